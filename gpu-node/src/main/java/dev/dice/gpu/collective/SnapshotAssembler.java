package dev.dice.gpu.collective;

import dev.dice.proto.collective.SnapshotChunk;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.SnapshotHeader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.zip.CRC32C;

/**
 * Rebuilds one snapshot from its frames in order (header, then chunks 0..n−1), checking each chunk's
 * place, size and CRC32C as it arrives and the SHA-256 of the whole at the end. Any failure names the
 * chunk and the sender, and no snapshot comes out.
 */
final class SnapshotAssembler {
    private final String source;
    private SnapshotHeader header;
    private ByteBuffer payload;
    private MessageDigest digest;
    private int nextChunk;

    SnapshotAssembler(String source) {
        this.source = source;
    }

    void accept(SnapshotFrame frame) {
        if (header == null) {
            if (!frame.hasHeader()) {
                throw new CollectiveException("weight snapshot from " + source + ": the stream did not start with a header");
            }
            start(frame.getHeader());
            return;
        }
        if (!frame.hasChunk()) {
            throw new CollectiveException(where() + ": expected chunk " + nextChunk + ", got another header");
        }
        SnapshotChunk chunk = frame.getChunk();
        long offset = (long) nextChunk * header.getChunkBytes();
        int expectedBytes = (int) Math.min(header.getChunkBytes(), header.getTotalBytes() - offset);
        if (chunk.getVersion() != header.getVersion() || chunk.getIndex() != nextChunk || chunk.getOffset() != offset
                || chunk.getData().size() != expectedBytes) {
            throw new CollectiveException(where() + ": expected chunk " + nextChunk + " (offset " + offset + ", "
                    + expectedBytes + " bytes), got chunk " + chunk.getIndex() + " of v" + chunk.getVersion()
                    + " (offset " + chunk.getOffset() + ", " + chunk.getData().size() + " bytes)");
        }
        ByteBuffer data = chunk.getData().asReadOnlyByteBuffer();
        CRC32C crc = new CRC32C();
        crc.update(data.duplicate());
        int actual = (int) crc.getValue();
        if (actual != chunk.getCrc32C()) {
            throw new CorruptSnapshotException(where() + ": chunk " + nextChunk + " of " + header.getChunks()
                    + " (bytes " + offset + ".." + (offset + expectedBytes) + ") is corrupted: CRC32C "
                    + hex(actual) + ", sender says " + hex(chunk.getCrc32C()) + "; nothing installed");
        }
        digest.update(data.duplicate());
        payload.put(data);
        nextChunk++;
    }

    private void start(SnapshotHeader h) {
        if (h.getTotalBytes() > Integer.MAX_VALUE || h.getTotalBytes() < 0 || h.getChunkBytes() <= 0
                || h.getChunks() != (h.getTotalBytes() + h.getChunkBytes() - 1) / h.getChunkBytes()) {
            throw new CollectiveException("weight snapshot v" + h.getVersion() + " from " + source
                    + ": inconsistent header (" + h.getTotalBytes() + " bytes in " + h.getChunks() + " chunks of "
                    + h.getChunkBytes() + ")");
        }
        header = h;
        payload = ByteBuffer.allocateDirect((int) h.getTotalBytes()).order(ByteOrder.LITTLE_ENDIAN);
        digest = WeightSnapshot.newSha256();
    }

    WeightSnapshot finish() {
        if (header == null) {
            throw new CollectiveException("weight snapshot from " + source + ": the stream ended before the header");
        }
        if (nextChunk != header.getChunks()) {
            throw new CollectiveException(where() + ": the stream ended after " + nextChunk + " of "
                    + header.getChunks() + " chunks");
        }
        byte[] sha = digest.digest();
        if (!MessageDigest.isEqual(sha, header.getSha256().toByteArray())) {
            throw new CorruptSnapshotException(where() + ": SHA-256 of the payload is " + HexFormat.of().formatHex(sha)
                    + ", sender says " + HexFormat.of().formatHex(header.getSha256().toByteArray())
                    + "; nothing installed");
        }
        payload.flip();
        return new WeightSnapshot(header.getVersion(), header.getTensorsList(), payload, sha);
    }

    private String where() {
        return "weight snapshot v" + header.getVersion() + " from " + source;
    }

    private static String hex(int crc) {
        return String.format("%08x", crc);
    }
}
