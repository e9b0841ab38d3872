package dev.dice.gpu.collective;

import dev.dice.proto.collective.SnapshotChunk;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.SnapshotHeader;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/**
 * Rebuilds one snapshot from its frames in order (header, then chunks 0..n−1), checking each chunk's place,
 * size and CRC32C as it arrives, and the CRC32C of the whole (computed as the chunks stream in) at the end,
 * plus the SHA-256 when the sender sent one. Any failure names the chunk and the sender, and no snapshot comes
 * out. With a relay, every verified chunk is served on at once. A transfer can resume from another source that
 * sends the same header (a relay whose parent failed). The payload is cut into segments of whole chunks
 * ({@link Segments}), so a snapshot of any size arrives off the Java heap, each chunk into one segment.
 */
final class SnapshotAssembler {
    private final String source;
    private final WeightPublisher relay;
    private SnapshotHeader header;
    private Segments payload;
    private final CRC32C whole = new CRC32C();
    private WeightPublisher.Published relayed;
    private int nextChunk;
    private boolean resuming;
    private volatile boolean failed;
    private boolean handedOver; // guarded by this: finish() gave the payload to the snapshot's holder

    SnapshotAssembler(String source) {
        this(source, null);
    }

    SnapshotAssembler(String source, WeightPublisher relay) {
        this.source = source;
        this.relay = relay;
    }

    /** The generated form (tests). */
    void accept(SnapshotFrame frame) {
        if (frame.hasHeader()) {
            accept(new SnapshotWire.Header(frame.getHeader()));
        } else {
            SnapshotChunk c = frame.getChunk();
            accept(new SnapshotWire.Chunk(c.toBuilder().clearData().build(), null,
                    Payload.of(c.getData().toByteArray())));
        }
    }

    void accept(SnapshotWire.Frame frame) {
        try {
            if (header == null) {
                if (!(frame instanceof SnapshotWire.Header h)) {
                    throw new CollectiveException("weight snapshot from " + source
                            + ": the stream did not start with a header");
                }
                start(h.header());
                return;
            }
            if (resuming) {
                if (!(frame instanceof SnapshotWire.Header h) || !h.header().equals(header)) {
                    throw new CollectiveException(where() + ": resumed from another source, which sent another"
                            + " snapshot");
                }
                resuming = false;
                return;
            }
            if (!(frame instanceof SnapshotWire.Chunk c)) {
                throw new CollectiveException(where() + ": expected chunk " + nextChunk + ", got another header");
            }
            try (Payload data = c.incoming()) {
                chunk(c.fields(), data);
            }
        } catch (RuntimeException e) {
            fail(e.getMessage());
            throw e;
        }
    }

    private void chunk(SnapshotChunk chunk, Payload data) {
        long offset = (long) nextChunk * header.getChunkBytes();
        int expectedBytes = (int) Math.min(header.getChunkBytes(), header.getTotalBytes() - offset);
        if (chunk.getVersion() != header.getVersion() || chunk.getIndex() != nextChunk || chunk.getOffset() != offset
                || data.size() != expectedBytes) {
            throw new CollectiveException(where() + ": expected chunk " + nextChunk + " (offset " + offset + ", "
                    + expectedBytes + " bytes), got chunk " + chunk.getIndex() + " of v" + chunk.getVersion()
                    + " (offset " + chunk.getOffset() + ", " + data.size() + " bytes)");
        }
        CRC32C crc = new CRC32C();
        data.update(crc);
        int actual = (int) crc.getValue();
        if (actual != chunk.getCrc32C()) {
            throw new CorruptSnapshotException(where() + ": chunk " + nextChunk + " of " + header.getChunks()
                    + " (bytes " + offset + ".." + (offset + expectedBytes) + ") is corrupted: CRC32C "
                    + hex(actual) + ", sender says " + hex(chunk.getCrc32C()) + "; nothing installed");
        }
        payload.read(() -> {
            ByteBuffer into = payload.slice(offset, expectedBytes);
            data.copyTo(into);
            whole.update(into.flip());
        });
        if (relayed != null) {
            relayed.arrived(nextChunk, actual);
        }
        nextChunk++;
    }

    private void start(SnapshotHeader h) {
        long tensorBytes = h.getTensorsList().stream().mapToLong(t -> t.getLength()).sum();
        if (h.getTotalBytes() < 0 || h.getChunkBytes() <= 0 || tensorBytes != h.getTotalBytes()
                || h.getChunks() != (h.getTotalBytes() + h.getChunkBytes() - 1) / h.getChunkBytes()) {
            throw new CollectiveException("weight snapshot v" + h.getVersion() + " from " + source
                    + ": inconsistent header (" + h.getTotalBytes() + " bytes in " + h.getChunks() + " chunks of "
                    + h.getChunkBytes() + ", tensors of " + tensorBytes + " bytes)");
        }
        header = h;
        payload = Segments.allocate(h.getTotalBytes(), h.getChunkBytes());
        if (relay != null) {
            relayed = WeightPublisher.Published.relayed(h, payload);
            relay.serve(relayed);
        }
    }

    /**
     * The rest comes from another source: a stream that starts with the same header, then chunk
     * {@link #nextChunk()} on.
     */
    void resume() {
        resuming = header != null;
    }

    /** The header received, or null before it. */
    SnapshotHeader header() {
        return header;
    }

    /** Whether the transfer failed for good (the relayed copy too). */
    boolean failed() {
        return failed;
    }

    /** The first chunk not yet received. */
    int nextChunk() {
        return nextChunk;
    }

    WeightSnapshot finish() {
        try {
            if (header == null) {
                throw new CollectiveException("weight snapshot from " + source + ": the stream ended before the header");
            }
            if (nextChunk != header.getChunks()) {
                throw new CollectiveException(where() + ": the stream ended after " + nextChunk + " of "
                        + header.getChunks() + " chunks");
            }
            int crc = (int) whole.getValue();
            if (crc != header.getPayloadCrc32C()) {
                throw new CorruptSnapshotException(where() + ": CRC32C of the whole payload is " + hex(crc)
                        + ", sender says " + hex(header.getPayloadCrc32C()) + "; nothing installed");
            }
            WeightSnapshot snapshot = new WeightSnapshot(header.getVersion(), header.getTensorsList(), payload, crc);
            if (!header.getSha256().isEmpty()
                    && !MessageDigest.isEqual(snapshot.sha256(), header.getSha256().toByteArray())) {
                throw new CorruptSnapshotException(where() + ": SHA-256 of the payload is " + snapshot.sha256Hex()
                        + ", sender says " + HexFormat.of().formatHex(header.getSha256().toByteArray())
                        + "; nothing installed");
            }
            synchronized (this) {
                handedOver = true;
            }
            return snapshot;
        } catch (RuntimeException e) {
            fail(e.getMessage());
            throw e;
        }
    }

    /** The transfer broke (here or upstream): whoever fetches the relayed copy fails too, and the payload goes. */
    synchronized void fail(String why) {
        if (failed || handedOver) {
            return;
        }
        failed = true;
        if (relayed != null) {
            relayed.fail(why);
        }
        if (payload != null) {
            payload.release();
        }
    }

    private String where() {
        return "weight snapshot v" + header.getVersion() + " from " + source;
    }

    private static String hex(int crc) {
        return String.format("%08x", crc);
    }
}
