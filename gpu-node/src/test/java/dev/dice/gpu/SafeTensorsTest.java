package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsTest {

    @TempDir
    Path dir;
    NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void f32RoundTripIsBitExact() {
        // Values that survive only if nothing converts or rounds: -0, NaN payloads, subnormals, extremes.
        float[] tricky = {0f, -0f, Float.intBitsToFloat(0x7FC00001), Float.intBitsToFloat(0xFFA00000),
            Float.MIN_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, 1f / 3, 1e-40f, 123456.78f, -2.5f, 7f};
        Map<String, NDArray> in = new TreeMap<>();
        in.put("b.matrix", manager.create(tricky, new Shape(3, 4)));
        in.put("a.vector", manager.create(new float[] {1.5f, -1.5f}));
        in.put("c.scalar", manager.create(42f));
        Path file = dir.resolve("t.safetensors");
        SafeTensors.write(file, in);

        Map<String, NDArray> out = SafeTensors.read(file, manager);
        assertEquals(in.keySet(), out.keySet());
        for (String name : in.keySet()) {
            assertEquals(in.get(name).getShape(), out.get(name).getShape(), name);
            assertEquals(DataType.FLOAT32, out.get(name).getDataType());
            assertArrayEquals(bits(in.get(name)), bits(out.get(name)), name);
        }
        try (SafeTensors st = SafeTensors.open(file)) {
            assertEquals("pt", st.metadata().get("format"));
            assertEquals(Arrays.asList("a.vector", "b.matrix", "c.scalar"), st.names().stream().toList());
        }
    }

    @Test
    void loadedArraysAreWritableAndIndependentOfTheFile() throws IOException {
        Path file = dir.resolve("t.safetensors");
        SafeTensors.write(file, Map.of("w", manager.create(new float[] {1, 2, 3})));
        byte[] before = Files.readAllBytes(file);
        NDArray w = SafeTensors.read(file, manager).get("w");
        w.addi(10); // would crash the JVM if the array still aliased the read-only mapping
        assertArrayEquals(new float[] {11, 12, 13}, w.toFloatArray());
        assertArrayEquals(before, Files.readAllBytes(file));
        // Overwriting the file while w is alive must not disturb w.
        SafeTensors.write(file, Map.of("w", manager.create(new float[] {0, 0, 0})));
        assertArrayEquals(new float[] {11, 12, 13}, w.toFloatArray());
    }

    @Test
    void bf16WidensExactly() throws IOException {
        short[] bf16 = {0x3F80, (short) 0xC040, 0x0000, (short) 0x8000, 0x7F80, 0x3EAB, 0x0001, (short) 0xFF81};
        Path file = dir.resolve("bf16.safetensors");
        RawSafeTensors.write(file, "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2,4],\"data_offsets\":[0,16]}}",
                RawSafeTensors.shortsLittleEndian(bf16));
        NDArray x = SafeTensors.read(file, manager).get("x");
        assertEquals(new Shape(2, 4), x.getShape());
        int[] expected = new int[bf16.length];
        for (int i = 0; i < bf16.length; i++) {
            expected[i] = (bf16[i] & 0xFFFF) << 16;
        }
        assertArrayEquals(expected, bits(x));
        assertEquals(1f, x.toFloatArray()[0]);
        assertEquals(-3f, x.toFloatArray()[1]);
    }

    @Test
    void bf16WriterRoundsToNearestAndReadsBack() {
        Path file = dir.resolve("bf16.safetensors");
        NDArray x = manager.create(new float[] {1f, -3f, 1f / 3});
        SafeTensors.write(file, Map.of("x", x), SafeTensors.Dtype.BF16);
        float[] back = SafeTensors.read(file, manager).get("x").toFloatArray();
        assertEquals(1f, back[0]);
        assertEquals(-3f, back[1]);
        // 1/3 is 0x3EAAAAAB in fp32: its low half is over the tie, so bf16 rounds up to 0x3EAB (truncation: 0x3EAA)
        assertEquals(0x3EAAAAAB, Float.floatToIntBits(1f / 3));
        assertEquals(Float.intBitsToFloat(0x3EAB0000), back[2]);
    }

    @Test
    void f16ReadsAsFloat32() throws IOException {
        // 1.0, -2.0, 0.5, 65504 (max half), 2^-24 (smallest subnormal half)
        short[] f16 = {0x3C00, (short) 0xC000, 0x3800, 0x7BFF, 0x0001};
        Path file = dir.resolve("f16.safetensors");
        RawSafeTensors.write(file, "{\"x\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]}}",
                RawSafeTensors.shortsLittleEndian(f16));
        NDArray x = SafeTensors.read(file, manager).get("x");
        assertEquals(DataType.FLOAT32, x.getDataType());
        assertArrayEquals(new float[] {1f, -2f, 0.5f, 65504f, (float) Math.pow(2, -24)}, x.toFloatArray());

        SafeTensors.write(dir.resolve("back.safetensors"), Map.of("x", x), SafeTensors.Dtype.F16);
        assertArrayEquals(x.toFloatArray(), SafeTensors.read(dir.resolve("back.safetensors"), manager).get("x").toFloatArray());
    }

    @Test
    void unknownDtypeNamesFileTensorAndDtype() throws IOException {
        Path file = dir.resolve("i64.safetensors");
        RawSafeTensors.write(file, "{\"steps\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]);
        String msg = assertThrows(BadInputException.class, () -> SafeTensors.read(file, manager)).getMessage();
        assertTrue(msg.contains(file.toString()) && msg.contains("'steps'") && msg.contains("I64"), msg);
    }

    @Test
    void headerLongerThanFileIsTruncation() throws IOException {
        Path file = dir.resolve("cut.safetensors");
        ByteBuffer bytes = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN).putLong(1000);
        Files.write(file, bytes.array());
        String msg = assertThrows(BadInputException.class, () -> SafeTensors.open(file)).getMessage();
        assertTrue(msg.startsWith(file + ": truncated"), msg);

        Files.write(file, new byte[3]);
        msg = assertThrows(BadInputException.class, () -> SafeTensors.open(file)).getMessage();
        assertTrue(msg.startsWith(file + ": truncated"), msg);
    }

    @Test
    void dataBeyondFileEndIsTruncation() throws IOException {
        Path file = dir.resolve("cut.safetensors");
        SafeTensors.write(file, Map.of("w", manager.create(new float[16])));
        byte[] whole = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(whole, whole.length - 4));
        String msg = assertThrows(BadInputException.class, () -> SafeTensors.open(file)).getMessage();
        assertTrue(msg.startsWith(file + ": truncated") && msg.contains("'w'"), msg);
    }

    @Test
    void offsetsThatDisagreeWithShapeAreRefused() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        RawSafeTensors.write(file, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", new byte[8]);
        String msg = assertThrows(BadInputException.class, () -> SafeTensors.open(file)).getMessage();
        assertTrue(msg.startsWith(file + ": tensor 'w'"), msg);
    }

    private static int[] bits(NDArray array) {
        float[] values = array.toFloatArray();
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }
}
