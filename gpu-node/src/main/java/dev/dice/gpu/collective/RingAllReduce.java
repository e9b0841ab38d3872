package dev.dice.gpu.collective;

import com.google.protobuf.ByteString;
import dev.dice.proto.collective.GradChunk;
import dev.dice.proto.collective.Phase;
import dev.dice.proto.collective.RingFrame;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One rank of a ring all-reduce over gRPC. Rank r serves its left neighbour's stream and streams to its right
 * neighbour, both opened once for the life of the ring. {@link #allReduceMean} runs the classic bandwidth-
 * optimal ring: R−1 reduce-scatter rounds, in which each rank adds the segment arriving from the left into
 * its own copy, then R−1 all-gather rounds that pass the finished segments around. Every rank moves
 * 2(R−1)/R of the buffer each way.
 *
 * <p>Determinism: segment s is summed in ring order starting at rank s, and the owner divides it by R
 * before it is gathered, so every rank ends with the same bits. Failure: every wait is bounded by
 * {@link Settings#timeout}; a broken link aborts the ring in both directions at once, so the other ranks
 * fail fast instead of each waiting out its own timeout. Once failed, the ring stays failed: re-form it
 * (new instances, new ring id) from the surviving ranks.
 *
 * <p>Not thread-safe: one reducing thread per rank.
 */
public final class RingAllReduce implements AutoCloseable {

    /**
     * @param timeout longest wait for a neighbour; must cover the compute skew between ranks (a rank that
     *     finishes its backward pass early waits for the slowest one inside the all-reduce)
     * @param chunkBytes payload per message
     * @param ringId names this incarnation of the ring; streams from another ring are refused
     * @param transport plaintext (default) or mutual TLS
     */
    public record Settings(Duration timeout, int chunkBytes, String ringId, GrpcTransport transport) {
        public Settings {
            if (chunkBytes < 4 || chunkBytes % 4 != 0) {
                throw new IllegalArgumentException("chunkBytes must be a positive multiple of 4, not " + chunkBytes);
            }
        }

        public static Settings of(Duration timeout) {
            return new Settings(timeout, 1 << 20, "ring", GrpcTransport.PLAINTEXT);
        }

        public Settings withRingId(String id) {
            return new Settings(timeout, chunkBytes, id, transport);
        }

        public Settings withChunkBytes(int bytes) {
            return new Settings(timeout, bytes, ringId, transport);
        }

        public Settings withTransport(GrpcTransport t) {
            return new Settings(timeout, chunkBytes, ringId, t);
        }
    }

    /** Chunks a rank may send ahead of what it has received in the same round (pipelining depth). */
    private static final int SEND_AHEAD = 2;

    private final int rank;
    private final int world;
    private final List<String> members;
    private final Settings settings;
    private final Server server;
    private final ManagedChannel channel;
    private final RingInbound inbound;
    private final RingOutbound outbound;
    private volatile String failure;
    private boolean closed;
    private long step;

    /**
     * Joins the ring: binds this rank's server at {@code members.get(rank)} and opens the stream to the next
     * member. Neighbours may join in any order within {@link Settings#timeout}.
     *
     * @param members "host:port" of every rank, in rank order
     */
    public RingAllReduce(List<String> members, int rank, Settings settings) {
        if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
            throw new IllegalStateException("the wire format is little-endian fp32; this host is big-endian");
        }
        if (rank < 0 || rank >= members.size()) {
            throw new IllegalArgumentException("rank " + rank + " outside 0.." + (members.size() - 1));
        }
        this.rank = rank;
        this.world = members.size();
        this.members = List.copyOf(members);
        this.settings = settings;
        if (world == 1) {
            server = null;
            channel = null;
            inbound = null;
            outbound = null;
            return;
        }
        int window = (SEND_AHEAD + 2) * (settings.chunkBytes() + 1024);
        inbound = new RingInbound(settings.ringId(), rank, world, SEND_AHEAD + 1, this::fail);
        InetSocketAddress self = address(members.get(rank));
        try {
            // directExecutor: callbacks only enqueue or signal, so running them on the event loop saves a hop
            server = settings.transport().server(self).directExecutor().addService(inbound)
                    .flowControlWindow(window).maxInboundMessageSize(settings.chunkBytes() + 4096).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("rank " + rank + ": cannot listen on " + self, e);
        }
        String next = members.get((rank + 1) % world);
        InetSocketAddress to = address(next);
        // disableRetry: a retrying call keeps the sent frames to replay them, and may serialise a frame after
        // send returned (while it drains its buffer); the payloads are zero-copy views of the caller's buffer,
        // which the reduction overwrites in the next round, so a late serialisation would send wrong numbers.
        channel = settings.transport().channel(to.getHostString(), to.getPort()).directExecutor()
                .disableRetry().flowControlWindow(window).maxInboundMessageSize(settings.chunkBytes() + 4096).build();
        outbound = new RingOutbound(channel, settings.ringId(), rank, world, 2 * settings.chunkBytes(), this::fail);
    }

    private static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("expected host:port, got '" + hostPort + "'");
        }
        return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
    }

    public int rank() {
        return rank;
    }

    public int world() {
        return world;
    }

    /** In-place element-wise mean across ranks of fp32 values in native (little-endian) byte order. */
    public void allReduceMean(ByteBuffer data) {
        allReduceMean(data, 0);
    }

    /**
     * Like {@link #allReduceMean(ByteBuffer)}, tagging the messages with {@code bucket} so that ranks reducing
     * different buckets at the same step fail instead of mixing them up. Every rank must call with the same
     * number of floats, buckets in the same order.
     */
    public void allReduceMean(ByteBuffer data, int bucket) {
        if (data.remaining() % 4 != 0) {
            throw new IllegalArgumentException("fp32 data must be a multiple of 4 bytes, not " + data.remaining());
        }
        ByteBuffer bytes = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        long op = step++;
        if (world == 1) {
            return;
        }
        if (failure != null) {
            throw new CollectiveException("rank " + rank + ": the ring has failed earlier (" + failure
                    + "); re-form it");
        }
        if (closed) {
            throw new IllegalStateException("rank " + rank + ": the ring is closed");
        }
        try {
            new Reduction(bytes, op, bucket).run();
        } catch (CollectiveException e) {
            fail(e.getMessage());
            throw e;
        } catch (RuntimeException e) {
            fail("rank " + rank + ": " + e);
            throw e;
        }
    }

    /** In-place mean of a float buffer (copied through a direct byte buffer; prefer the ByteBuffer form). */
    public void allReduceMean(FloatBuffer data) {
        if (world == 1) {
            step++;
            return;
        }
        FloatBuffer source = data.slice();
        ByteBuffer bytes = ByteBuffer.allocateDirect(source.remaining() * 4).order(ByteOrder.nativeOrder());
        bytes.asFloatBuffer().put(source.duplicate());
        allReduceMean(bytes, 0);
        source.put(bytes.asFloatBuffer());
    }

    /**
     * Fails the ring from this rank: neighbours see their links break and abort their steps at once. Also
     * called when a link breaks under us, which is what makes a failure spread around the ring.
     */
    public void abort(String why) {
        fail("rank " + rank + " aborted: " + why);
    }

    private synchronized void fail(String why) {
        if (failure != null || world == 1) {
            return;
        }
        failure = why;
        inbound.abort(why);
        outbound.abort(why);
    }

    /** Leaves the ring cleanly: both neighbours see their streams end after everything already sent. */
    @Override
    public void close() {
        if (world == 1 || closed) {
            return;
        }
        closed = true;
        try {
            if (failure == null) {
                outbound.close();
                inbound.close();
            }
            channel.shutdown();
            server.shutdown();
            channel.awaitTermination(settings.timeout().toMillis(), TimeUnit.MILLISECONDS);
            server.awaitTermination(100, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            channel.shutdownNow();
            server.shutdownNow();
        }
    }

    /** Stops abruptly, as if the process died: no goodbye, the transport just goes away. For tests. */
    void crash() {
        closed = true;
        channel.shutdownNow();
        server.shutdownNow();
    }

    /** One all-reduce: the segment layout and the two phases. */
    private final class Reduction {
        private final ByteBuffer bytes;
        private final FloatBuffer floats;
        private final long op;
        private final int bucket;
        private final long n;
        private final int chunkFloats = settings.chunkBytes() / 4;
        private final float[] mine;
        private final float[] theirs;

        Reduction(ByteBuffer bytes, long op, int bucket) {
            this.bytes = bytes;
            this.floats = bytes.asFloatBuffer();
            this.op = op;
            this.bucket = bucket;
            this.n = floats.remaining();
            int scratch = (int) Math.min(chunkFloats, n / world + 1);
            this.mine = new float[scratch];
            this.theirs = new float[scratch];
        }

        /** Segments differ by at most one float, so any n works, including n < R (empty segments). */
        private int segmentStart(int s) {
            long base = n / world;
            long extra = n % world;
            return (int) (s * base + Math.min(s, extra));
        }

        private int segmentLength(int s) {
            return segmentStart(s + 1) - segmentStart(s);
        }

        void run() {
            for (int round = 0; round < world - 1; round++) {
                exchange(Phase.REDUCE_SCATTER, round, Math.floorMod(rank - round, world),
                        Math.floorMod(rank - round - 1, world));
            }
            int owned = Math.floorMod(rank + 1, world);
            for (int from = segmentStart(owned), end = from + segmentLength(owned); from < end; from += mine.length) {
                int count = Math.min(mine.length, end - from);
                floats.get(from, mine, 0, count);
                for (int i = 0; i < count; i++) {
                    mine[i] /= world;
                }
                floats.put(from, mine, 0, count);
            }
            for (int round = 0; round < world - 1; round++) {
                exchange(Phase.ALL_GATHER, round, Math.floorMod(rank + 1 - round, world),
                        Math.floorMod(rank - round, world));
            }
        }

        /** Sends segment {@code out} to the right while receiving segment {@code in} from the left, chunk by chunk. */
        private void exchange(Phase phase, int round, int out, int in) {
            int toSend = chunks(out);
            int toReceive = chunks(in);
            int sent = 0;
            int received = 0;
            while (sent < toSend || received < toReceive) {
                if (sent < toSend && (sent - received < SEND_AHEAD || received == toReceive)) {
                    send(phase, round, out, sent++);
                } else {
                    receive(phase, round, in, received++);
                }
            }
        }

        private int chunks(int segment) {
            return (segmentLength(segment) + chunkFloats - 1) / chunkFloats;
        }

        private void send(Phase phase, int round, int segment, int chunk) {
            int from = segmentStart(segment) + chunk * chunkFloats;
            int count = Math.min(chunkFloats, segmentStart(segment) + segmentLength(segment) - from);
            // A copy, not a view of the buffer: with a view, N-rank training drifted from 1-rank training now and
            // then (max |Δw| ~5e-3 under load), as if a frame were serialised after the buffer was overwritten.
            ByteString payload = ByteString.copyFrom(bytes.slice(from * 4, count * 4));
            GradChunk header = header(phase, round, segment, chunk).setData(payload).build();
            outbound.send(RingFrame.newBuilder().setChunk(header).build(), settings.timeout(), during(phase, round));
        }

        private void receive(Phase phase, int round, int segment, int chunk) {
            GradChunk got = inbound.take(settings.timeout(), during(phase, round));
            GradChunk expected = header(phase, round, segment, chunk).build();
            if (got.getStep() != op || got.getBucket() != bucket || got.getPhase() != phase
                    || got.getRound() != round || got.getSegment() != segment || got.getChunk() != chunk
                    || got.getTotalFloats() != n) {
                throw new CollectiveException("rank " + rank + ": out of step with left neighbour: expected "
                        + describe(expected) + ", got " + describe(got));
            }
            int from = segmentStart(segment) + chunk * chunkFloats;
            int count = Math.min(chunkFloats, segmentStart(segment) + segmentLength(segment) - from);
            FloatBuffer incoming = got.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            if (incoming.remaining() != count) {
                throw new CollectiveException("rank " + rank + ": chunk " + describe(expected) + " carries "
                        + incoming.remaining() + " floats, expected " + count);
            }
            if (phase == Phase.REDUCE_SCATTER) {
                // bulk copies into arrays, then a plain loop the JIT vectorises: ~10x faster than indexed
                // get/put on buffer views
                floats.get(from, mine, 0, count);
                incoming.get(0, theirs, 0, count);
                for (int i = 0; i < count; i++) {
                    mine[i] += theirs[i];
                }
                floats.put(from, mine, 0, count);
            } else {
                floats.put(from, incoming, 0, count);
            }
        }

        private GradChunk.Builder header(Phase phase, int round, int segment, int chunk) {
            return GradChunk.newBuilder().setStep(op).setBucket(bucket).setPhase(phase).setRound(round)
                    .setSegment(segment).setChunk(chunk).setTotalFloats(n);
        }

        private String during(Phase phase, int round) {
            return "during all-reduce step " + op + " bucket " + bucket + " (" + phase + " round " + round + ")";
        }
    }

    private static String describe(GradChunk c) {
        return "step " + c.getStep() + " bucket " + c.getBucket() + " " + c.getPhase() + " round " + c.getRound()
                + " segment " + c.getSegment() + " chunk " + c.getChunk() + " of " + c.getTotalFloats() + " floats";
    }

    @Override
    public String toString() {
        return "RingAllReduce[rank " + rank + " of " + members + "]";
    }
}
