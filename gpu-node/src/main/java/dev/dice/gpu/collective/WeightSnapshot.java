package dev.dice.gpu.collective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.dice.gpu.SafeTensors;
import dev.dice.proto.collective.TensorSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * An immutable, versioned set of named fp32 tensors packed back to back in one little-endian payload, with
 * the payload's CRC32C. This is what the weight broadcast moves: the sender builds it once from the trained
 * parameters, receivers rebuild it chunk by chunk and only hand it out once it verified. The SHA-256 names a
 * version for people and logs; it is computed on first use (it costs more than the transfer checks).
 */
public final class WeightSnapshot {
    private final long version;
    private final List<TensorSpec> tensors;
    private final ByteBuffer payload;
    private final int crc32c;
    private volatile byte[] sha256;

    WeightSnapshot(long version, List<TensorSpec> tensors, ByteBuffer payload, int crc32c) {
        this.version = version;
        this.tensors = List.copyOf(tensors);
        this.payload = payload.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        this.crc32c = crc32c;
    }

    /** Copies {@code arrays} (fp32, in map order) into a snapshot. */
    public static WeightSnapshot of(long version, Map<String, NDArray> arrays) {
        long total = 0;
        for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
            if (e.getValue().getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' is " + e.getValue().getDataType()
                        + "; snapshots carry float32");
            }
            total += e.getValue().size() * 4;
        }
        ByteBuffer payload = allocate(total);
        List<TensorSpec> specs = new ArrayList<>();
        arrays.forEach((name, array) -> {
            specs.add(spec(name, array.getShape().getShape(), payload.position(), array.size() * 4));
            payload.put(array.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
        });
        payload.flip();
        return new WeightSnapshot(version, specs, payload, crc32c(payload));
    }

    /** The most a snapshot carries: its payload is one Java array. */
    public static final long MAX_BYTES = Integer.MAX_VALUE - 8;

    /** Whether {@code arrays} (fp32) fit in one snapshot here, see {@link #fits(long)}. */
    public static boolean fits(Map<String, NDArray> arrays) {
        return fits(arrays.values().stream().mapToLong(a -> a.size() * 4).sum());
    }

    /**
     * Whether a snapshot of {@code bytes} fits in this JVM: within one Java array, and small beside the heap, which
     * holds the publisher's copy and, in a one-JVM run, every receiver's too (the heap is {@code DICE_HEAP}).
     */
    public static boolean fits(long bytes) {
        return bytes <= Math.min(MAX_BYTES, Runtime.getRuntime().maxMemory() / 8);
    }

    /**
     * {@link #sha256Hex()} of the snapshot {@code arrays} would make, read tensor by tensor instead of copied: a model
     * larger than the heap (or than a snapshot) is hashed in place.
     */
    public static String sha256Hex(Map<String, NDArray> arrays) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (NDArray array : arrays.values()) {
                digest.update(array.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }

    /** One 1-D tensor holding {@code floats} little-endian fp32 bytes (benchmarks, tests). */
    public static WeightSnapshot ofBytes(long version, String name, ByteBuffer floats) {
        ByteBuffer payload = allocate(floats.remaining());
        payload.put(floats.duplicate()).flip();
        List<TensorSpec> specs = List.of(spec(name, new long[] {payload.remaining() / 4}, 0, payload.remaining()));
        return new WeightSnapshot(version, specs, payload, crc32c(payload));
    }

    /**
     * On the heap: gRPC copies from an array in one step, and {@link #toArrays} must copy anyway (a tensor over
     * the snapshot's own memory would let in-place updates change an immutable snapshot).
     */
    static ByteBuffer allocate(long bytes) {
        if (bytes > MAX_BYTES) {
            throw new IllegalArgumentException("snapshot of " + bytes + " bytes: at most 2 GiB per snapshot");
        }
        return ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    static TensorSpec spec(String name, long[] shape, long offset, long length) {
        TensorSpec.Builder b = TensorSpec.newBuilder().setName(name).setDtype("F32").setOffset(offset).setLength(length);
        for (long d : shape) {
            b.addShape(d);
        }
        return b.build();
    }

    static int crc32c(ByteBuffer data) {
        CRC32C crc = new CRC32C();
        crc.update(data.duplicate());
        return (int) crc.getValue();
    }

    static byte[] sha256(ByteBuffer data) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update(data.duplicate());
            return digest.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }

    public long version() {
        return version;
    }

    public List<TensorSpec> tensors() {
        return tensors;
    }

    /** The packed tensors, read-only. */
    public ByteBuffer payload() {
        return payload.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** CRC32C of the payload: what the broadcast verifies. */
    public int crc32c() {
        return crc32c;
    }

    /** SHA-256 of the payload (computed once, on first call). */
    public byte[] sha256() {
        byte[] digest = sha256;
        if (digest == null) {
            digest = sha256(payload);
            sha256 = digest;
        }
        return digest.clone();
    }

    public String sha256Hex() {
        return HexFormat.of().formatHex(sha256());
    }

    /** The bytes of one tensor, read-only. */
    public ByteBuffer tensor(String name) {
        for (TensorSpec t : tensors) {
            if (t.getName().equals(name)) {
                return payload.slice((int) t.getOffset(), (int) t.getLength()).order(ByteOrder.LITTLE_ENDIAN);
            }
        }
        throw new IllegalArgumentException("snapshot v" + version + " has no tensor '" + name + "'");
    }

    /** Fresh arrays on {@code manager}, in snapshot order (e.g. for {@code Llama.of}). */
    public Map<String, NDArray> toArrays(NDManager manager) {
        Map<String, NDArray> out = new LinkedHashMap<>();
        for (TensorSpec t : tensors) {
            long[] shape = t.getShapeList().stream().mapToLong(Long::longValue).toArray();
            out.put(t.getName(), manager.create(tensor(t.getName()), new Shape(shape), DataType.FLOAT32));
        }
        return out;
    }

    /** Writes the tensors as one safetensors file, atomically (temp file, then rename). */
    public void writeSafeTensors(Path file) {
        try (NDManager scratch = NDManager.newBaseManager()) {
            SafeTensors.write(file, toArrays(scratch));
        }
    }

    /** Same version and same bits. */
    public boolean sameAs(WeightSnapshot other) {
        return version == other.version && crc32c == other.crc32c && tensors.equals(other.tensors)
                && payload.equals(other.payload);
    }

    @Override
    public String toString() {
        return "WeightSnapshot[v" + version + ", " + tensors.size() + " tensors, " + payload.capacity() + " bytes, crc32c "
                + String.format("%08x", crc32c) + "]";
    }
}
