package dev.dice.gpu.collective;

import dev.dice.proto.collective.Encoding;
import dev.dice.proto.collective.GradChunk;
import dev.dice.proto.collective.Phase;
import java.nio.ByteBuffer;

/** {@link RingAllReduce#broadcast} over the ring's two links. */
final class RingRelay {
    private RingRelay() {}

    /**
     * The root sends its buffer chunk by chunk; every other rank stores each chunk and sends it on, unless the root
     * is its right neighbour. Views of the buffer are sent, safe as in an all-reduce: a chunk is stored before it
     * is sent on, and the call returns once every frame was serialised. Returns the payload bytes this rank sent.
     */
    static long run(RingInbound inbound, RingOutbound outbound, RingAllReduce.Settings settings, int rank, int world,
            ByteBuffer bytes, long op, int root, int bucket) {
        long sent = 0;
        int n = bytes.remaining() / 4;
        int chunkFloats = settings.chunkBytes() / 4;
        boolean sendOn = rank == root || (rank + 1) % world != root;
        String during = "during broadcast step " + op + " bucket " + bucket + " from rank " + root;
        for (int k = 0; k * chunkFloats < n; k++) {
            int from = k * chunkFloats;
            int count = Math.min(chunkFloats, n - from);
            GradChunk header = GradChunk.newBuilder().setStep(op).setBucket(bucket).setPhase(Phase.BROADCAST)
                    .setSegment(root).setChunk(k).setTotalFloats(n).setEncoding(Encoding.FP32).build();
            if (rank != root) {
                RingWire.Chunk frame = inbound.take(settings.timeout(), during);
                try (Payload data = frame.incoming()) {
                    GradChunk got = frame.header();
                    if (got.getStep() != op || got.getBucket() != bucket || got.getPhase() != Phase.BROADCAST
                            || got.getSegment() != root || got.getChunk() != k || got.getTotalFloats() != n
                            || data.size() != count * 4) {
                        throw new CollectiveException("rank " + rank + ": out of step with left neighbour: expected "
                                + RingWire.describe(header) + ", got " + RingWire.describe(got) + " (" + data.size()
                                + " bytes)");
                    }
                    data.copyTo(bytes.slice(from * 4, count * 4));
                }
            }
            if (sendOn) {
                ByteBuffer view = bytes.slice(from * 4, count * 4);
                sent += view.remaining();
                outbound.send(new RingWire.Chunk(header, view, null), during);
            }
        }
        outbound.drain(settings.timeout(), during);
        return sent;
    }
}
