package dev.dice.gpu.collective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.dice.gpu.SafeTensors;
import dev.dice.proto.collective.TensorSpec;
import java.nio.ByteBuffer;
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
 * version for people and logs; it is computed on first use (it costs more than the transfer checks). The payload
 * is held off the Java heap in {@link Segments}, so a snapshot has no size limit but the machine's memory: a
 * 7–8B model (16–32 GB as fp32) travels like a small one.
 */
public final class WeightSnapshot {
    private final long version;
    private final List<TensorSpec> tensors;
    private final Segments payload;
    private final int crc32c;
    private volatile byte[] sha256;

    WeightSnapshot(long version, List<TensorSpec> tensors, Segments payload, int crc32c) {
        this.version = version;
        this.tensors = List.copyOf(tensors);
        this.payload = payload;
        this.crc32c = crc32c;
    }

    /**
     * Copies {@code arrays} (fp32, in map order) into a snapshot: one tensor at a time, read where it is (a CPU
     * tensor is not copied on the way), so the snapshot is the only extra host copy of the weights.
     */
    @SuppressWarnings("try") // the scope is used only for closing the host copies a device tensor needs
    public static WeightSnapshot of(long version, Map<String, NDArray> arrays) {
        long total = 0;
        for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
            if (e.getValue().getDataType() != DataType.FLOAT32) {
                throw new IllegalArgumentException("tensor '" + e.getKey() + "' is " + e.getValue().getDataType()
                        + "; snapshots carry float32");
            }
            total += e.getValue().size() * 4;
        }
        Segments payload = Segments.allocate(total, Float.BYTES);
        List<TensorSpec> specs = new ArrayList<>();
        long offset = 0;
        for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
            NDArray array = e.getValue();
            specs.add(spec(e.getKey(), array.getShape().getShape(), offset, array.size() * 4));
            if (array.size() > 0) {
                try (NDScope scratch = new NDScope()) {
                    payload.put(offset, array.toByteBuffer(true));
                }
            }
            offset += array.size() * 4;
        }
        CRC32C crc = new CRC32C();
        payload.update(crc);
        return new WeightSnapshot(version, specs, payload, (int) crc.getValue());
    }

    /**
     * {@link #sha256Hex()} of the snapshot {@code arrays} would make, read tensor by tensor where they are instead
     * of copied.
     */
    @SuppressWarnings("try")
    public static String sha256Hex(Map<String, NDArray> arrays) {
        MessageDigest digest = sha256Digest();
        for (NDArray array : arrays.values()) {
            if (array.size() > 0) {
                try (NDScope scratch = new NDScope()) {
                    digest.update(array.toByteBuffer(true));
                }
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** One 1-D tensor holding {@code floats} little-endian fp32 bytes (benchmarks, tests). */
    public static WeightSnapshot ofBytes(long version, String name, ByteBuffer floats) {
        Segments payload = Segments.allocate(floats.remaining(), Float.BYTES);
        payload.put(0, floats);
        List<TensorSpec> specs = List.of(spec(name, new long[] {payload.size() / 4}, 0, payload.size()));
        CRC32C crc = new CRC32C();
        payload.update(crc);
        return new WeightSnapshot(version, specs, payload, (int) crc.getValue());
    }

    static TensorSpec spec(String name, long[] shape, long offset, long length) {
        TensorSpec.Builder b = TensorSpec.newBuilder().setName(name).setDtype("F32").setOffset(offset).setLength(length);
        for (long d : shape) {
            b.addShape(d);
        }
        return b.build();
    }

    private static MessageDigest sha256Digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
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

    /** The packed tensors (read, never written, once the snapshot exists). */
    Segments payload() {
        return payload;
    }

    /** Bytes in the payload. */
    public long bytes() {
        return payload.size();
    }

    /** The off-heap buffers the payload is cut into (at most 256 MiB each). */
    public int segments() {
        return payload.segmentCount();
    }

    /** CRC32C of the payload: what the broadcast verifies. */
    public int crc32c() {
        return crc32c;
    }

    /** SHA-256 of the payload (computed once, on first call). */
    public byte[] sha256() {
        byte[] digest = sha256;
        if (digest == null) {
            MessageDigest d = sha256Digest();
            payload.update(d);
            digest = d.digest();
            sha256 = digest;
        }
        return digest.clone();
    }

    public String sha256Hex() {
        return HexFormat.of().formatHex(sha256());
    }

    /**
     * Fresh arrays on {@code manager}, in snapshot order (e.g. for {@code Llama.of}): each is its own copy, so
     * in-place updates never reach the snapshot.
     */
    public Map<String, NDArray> toArrays(NDManager manager) {
        return payload.read(() -> {
            Map<String, NDArray> out = new LinkedHashMap<>();
            for (TensorSpec t : tensors) {
                Shape shape = new Shape(t.getShapeList().stream().mapToLong(Long::longValue).toArray());
                out.put(t.getName(), array(payload.pieces(t.getOffset(), t.getLength()), shape, manager));
            }
            return out;
        });
    }

    /**
     * One tensor from the views of the segments it lies in: create() over a direct buffer wraps it without copying,
     * so duplicate() (or concat, for a tensor across segments) is the one copy, into memory libtorch owns.
     */
    private static NDArray array(List<ByteBuffer> pieces, Shape shape, NDManager manager) {
        if (pieces.isEmpty()) {
            return manager.zeros(shape, DataType.FLOAT32);
        }
        if (pieces.size() == 1) {
            try (NDArray view = manager.create(pieces.get(0), shape, DataType.FLOAT32)) {
                return view.duplicate();
            }
        }
        try (NDManager views = manager.newSubManager()) {
            NDList parts = new NDList();
            for (ByteBuffer piece : pieces) {
                parts.add(views.create(piece, new Shape(piece.remaining() / 4), DataType.FLOAT32));
            }
            NDArray whole = NDArrays.concat(parts).reshape(shape);
            whole.attach(manager);
            return whole;
        }
    }

    /** Writes the tensors as one safetensors file, atomically (temp file, then rename). */
    public void writeSafeTensors(Path file) {
        try (NDManager scratch = NDManager.newBaseManager()) {
            SafeTensors.write(file, toArrays(scratch));
        }
    }

    /**
     * This holder is done with the snapshot: its memory is freed as soon as no publisher serves it and no fetch
     * streams it, instead of whenever the garbage collector notices. Reading it afterwards fails.
     */
    public void release() {
        payload.release();
    }

    /** Same version and same bits. */
    public boolean sameAs(WeightSnapshot other) {
        return version == other.version && crc32c == other.crc32c && tensors.equals(other.tensors)
                && payload.contentEquals(other.payload);
    }

    @Override
    public String toString() {
        return "WeightSnapshot[v" + version + ", " + tensors.size() + " tensors, " + payload.size() + " bytes in "
                + payload.segmentCount() + " segments, crc32c " + String.format("%08x", crc32c) + "]";
    }
}
