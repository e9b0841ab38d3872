package dev.dice.gpu.collective;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.security.MessageDigest;
import java.util.List;
import java.util.function.Supplier;
import java.util.zip.Checksum;

/**
 * A payload of any size as consecutive direct buffers (segments) of {@link #segmentBytes} bytes each but the last:
 * a Java buffer is int-indexed (at most 2 GiB), a 7–8B model's weights are 16–32 GB. The segments live off the Java
 * heap, so the heap ({@code DICE_HEAP}) stays small whatever the model; their memory counts against the JVM's
 * {@code -XX:MaxDirectMemorySize}, and an allocation that would pass it first collects unreachable payloads.
 * A snapshot's chunks are sized to divide the segment size, so a chunk is always one view of one segment.
 *
 * <p>A payload of tens of gigabytes must not wait for the garbage collector, which sees only the small buffer
 * objects: it is reference-counted ({@link #retain}, {@link #release}) and freed the moment its last holder — the
 * snapshot's owner, a publisher serving it, a fetch streaming it — lets go. Reads run inside {@link #read}, so the
 * memory is never freed under a reader (the last reader frees it then); a read after the free fails with
 * {@link IllegalStateException}. A payload nobody releases is freed by the collector as any direct buffer.
 */
final class Segments {
    /** The largest segment a payload is cut into: well under 2 GiB, a multiple of every power-of-two chunk size. */
    static final int MAX_SEGMENT_BYTES = 256 << 20;

    /** The segment size new payloads use; tests make it small to cut a few megabytes into many segments. */
    static volatile int segmentLimit = MAX_SEGMENT_BYTES;

    private static final sun.misc.Unsafe UNSAFE = unsafe();

    private final List<ByteBuffer> segments;
    private final int segmentBytes;
    private final long size;
    private int holders = 1; // guarded by this
    private int readers; // guarded by this
    private boolean freed; // guarded by this

    private Segments(List<ByteBuffer> segments, int segmentBytes, long size) {
        this.segments = segments;
        this.segmentBytes = segmentBytes;
        this.size = size;
    }

    /** {@code size} zeroed bytes in segments of the largest multiple of {@code unit} within the segment limit. */
    static Segments allocate(long size, int unit) {
        int segmentBytes = segmentBytes(segmentLimit, unit);
        int count = segmentCount(size, segmentBytes);
        List<ByteBuffer> segments = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int bytes = (int) Math.min(segmentBytes, size - (long) i * segmentBytes);
            segments.add(ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN));
        }
        return new Segments(List.copyOf(segments), segmentBytes, size);
    }

    /** The largest multiple of {@code unit} that is at most {@code limit} (one unit when the limit is smaller). */
    static int segmentBytes(int limit, int unit) {
        if (unit <= 0 || limit <= 0) {
            throw new IllegalArgumentException("segment limit " + limit + " and unit " + unit + " must be positive");
        }
        return Math.max(unit, limit / unit * unit);
    }

    /** How many segments of {@code segmentBytes} hold {@code size} bytes. */
    static int segmentCount(long size, int segmentBytes) {
        long count = (size + segmentBytes - 1) / segmentBytes;
        if (size < 0 || count > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(size + " bytes cannot be cut into segments of " + segmentBytes);
        }
        return (int) count;
    }

    /** One more holder; false when the payload is already freed. */
    synchronized boolean retain() {
        if (holders == 0) {
            return false;
        }
        holders++;
        return true;
    }

    /** One holder fewer; the last one frees the memory, or the last read running then does. Never blocks. */
    void release() {
        synchronized (this) {
            if (holders == 0 || --holders > 0 || readers > 0) {
                return;
            }
            freed = true;
        }
        segments.forEach(UNSAFE::invokeCleaner);
    }

    /** Runs {@code reader} with the memory held: it cannot be freed before the reader returns. */
    <T> T read(Supplier<T> reader) {
        synchronized (this) {
            checkHeld();
            readers++;
        }
        try {
            return reader.get();
        } finally {
            boolean free;
            synchronized (this) {
                free = --readers == 0 && holders == 0 && !freed;
                freed |= free;
            }
            if (free) {
                segments.forEach(UNSAFE::invokeCleaner);
            }
        }
    }

    void read(Runnable reader) {
        read(() -> {
            reader.run();
            return null;
        });
    }

    private synchronized void checkHeld() {
        if (freed) {
            throw new IllegalStateException("payload of " + size + " bytes was released");
        }
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            java.lang.reflect.Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("no sun.misc.Unsafe to free direct buffers with", e);
        }
    }

    long size() {
        return size;
    }

    int segmentBytes() {
        return segmentBytes;
    }

    int segmentCount() {
        return segments.size();
    }

    /** A view of {@code length} bytes at {@code offset}, which must lie within one segment (a chunk does). */
    ByteBuffer slice(long offset, int length) {
        checkHeld();
        int segment = (int) (offset / segmentBytes);
        int from = (int) (offset % segmentBytes);
        if (offset < 0 || length < 0 || offset + length > size
                || (length > 0 && from + length > segments.get(segment).capacity())) {
            throw new IllegalArgumentException("bytes " + offset + ".." + (offset + length) + " are not within one of "
                    + segments.size() + " segments of " + segmentBytes + " (" + size + " bytes)");
        }
        return length == 0 ? ByteBuffer.allocate(0) : segments.get(segment).slice(from, length)
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Views of {@code length} bytes at {@code offset}, one per segment they touch, in order. */
    List<ByteBuffer> pieces(long offset, long length) {
        checkHeld();
        if (offset < 0 || length < 0 || offset + length > size) {
            throw new IllegalArgumentException("bytes " + offset + ".." + (offset + length) + " of " + size);
        }
        List<ByteBuffer> out = new ArrayList<>();
        long at = offset;
        long end = offset + length;
        while (at < end) {
            int from = (int) (at % segmentBytes);
            int n = (int) Math.min(end - at, segmentBytes - from);
            out.add(segments.get((int) (at / segmentBytes)).slice(from, n).order(ByteOrder.LITTLE_ENDIAN));
            at += n;
        }
        return out;
    }

    /** Copies {@code source}'s remaining bytes in at {@code offset}, across segments as needed. */
    void put(long offset, ByteBuffer source) {
        ByteBuffer from = source.duplicate();
        read(() -> {
            for (ByteBuffer into : pieces(offset, from.remaining())) {
                into.put(from.slice(from.position(), into.remaining()));
                from.position(from.position() + into.capacity());
            }
        });
    }

    /** Feeds every byte, in order, to {@code checksum}. */
    void update(Checksum checksum) {
        read(() -> segments.forEach(s -> checksum.update(s.duplicate())));
    }

    /** Feeds every byte, in order, to {@code digest}. */
    void update(MessageDigest digest) {
        read(() -> segments.forEach(s -> digest.update(s.duplicate())));
    }

    /** Same size and the same bytes (whatever the segmentation). */
    boolean contentEquals(Segments other) {
        return size == other.size && read(() -> other.read(() -> sameBytes(other)));
    }

    private boolean sameBytes(Segments other) {
        long at = 0;
        for (ByteBuffer piece : pieces(0, size)) {
            for (ByteBuffer theirs : other.pieces(at, piece.remaining())) {
                if (!piece.slice(piece.position(), theirs.remaining()).equals(theirs)) {
                    return false;
                }
                piece.position(piece.position() + theirs.remaining());
            }
            at += piece.capacity();
        }
        return true;
    }
}
