package dev.dice.gpu.collective;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.zip.Checksum;

/**
 * The bytes of one message's big {@code bytes} field, as received: views of the transport's buffers (no copy),
 * valid until {@link #close}, or one array when the transport could not lend its buffers. The pieces split the
 * payload at arbitrary byte offsets (network frames), so readers of floats carry partial values across them.
 */
final class Payload implements AutoCloseable {
    private final List<ByteBuffer> pieces;
    private final int size;
    private final Closeable owner;
    private final byte[] carry = new byte[4];

    Payload(List<ByteBuffer> pieces, Closeable owner) {
        this.pieces = pieces;
        this.size = pieces.stream().mapToInt(ByteBuffer::remaining).sum();
        this.owner = owner;
    }

    static Payload of(byte[] bytes) {
        return new Payload(List.of(ByteBuffer.wrap(bytes)), () -> {});
    }

    int size() {
        return size;
    }

    /** Appends every byte to {@code target} (its position advances). */
    void copyTo(ByteBuffer target) {
        for (ByteBuffer piece : pieces) {
            target.put(piece.duplicate());
        }
    }

    void update(Checksum checksum) {
        for (ByteBuffer piece : pieces) {
            checksum.update(piece.duplicate());
        }
    }

    /** The payload as little-endian fp32, into {@code out[0..size/4)}. */
    void readFloats(float[] out) {
        read(4, (piece, at, n) -> piece.asFloatBuffer().get(out, at, n),
                (bytes, at) -> out[at] = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getFloat());
    }

    /** The payload as little-endian 16-bit values, into {@code out[0..size/2)}. */
    void readShorts(short[] out) {
        read(2, (piece, at, n) -> piece.asShortBuffer().get(out, at, n),
                (bytes, at) -> out[at] = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getShort());
    }

    private interface Bulk {
        void get(ByteBuffer piece, int at, int count);
    }

    private interface Single {
        void get(byte[] bytes, int at);
    }

    private void read(int width, Bulk bulk, Single single) {
        int element = 0;
        int carried = 0;
        for (ByteBuffer p : pieces) {
            ByteBuffer piece = p.duplicate().order(ByteOrder.LITTLE_ENDIAN);
            while (carried > 0 && carried < width && piece.hasRemaining()) { // finish a value split across pieces
                carry[carried++] = piece.get();
                if (carried == width) {
                    single.get(carry, element++);
                    carried = 0;
                }
            }
            int whole = piece.remaining() / width;
            bulk.get(piece.slice().order(ByteOrder.LITTLE_ENDIAN), element, whole);
            element += whole;
            piece.position(piece.position() + whole * width);
            while (piece.hasRemaining()) {
                carry[carried++] = piece.get();
            }
        }
        if (carried != 0) {
            throw new IllegalStateException("payload of " + size + " bytes is not a whole number of " + width
                    + "-byte values");
        }
    }

    /** Hands the transport's buffers back. */
    @Override
    public void close() {
        try {
            owner.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
