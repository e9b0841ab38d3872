package dev.dice.gpu.collective;

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
 * One rank of a ring of collectives over gRPC ({@link Collective}). Rank r serves its left neighbour's stream and
 * streams to its right neighbour, both opened once for the life of the ring. {@link #allReduceMean} runs the classic
 * bandwidth-optimal ring: R−1 reduce-scatter rounds, in which each rank adds the segment arriving from the left into
 * its own copy, then R−1 all-gather rounds that pass the finished segments around. Every rank moves 2(R−1)/R of the
 * buffer each way. {@link #reduceScatterMean} and {@link #allGather} are its two halves, run apart;
 * {@link #broadcast} passes the root's buffer along the ring, chunk by chunk.
 *
 * <p>Pipelining: the segment a rank sends in round t+1 is the one it received in round t, so chunk k goes on
 * as soon as chunk k arrived and was added; sends never wait for the round to end, and the link stays busy
 * as long as the HTTP/2 window and the receiver's credit allow. Payloads are views of the caller's buffer
 * (fp32) or freshly encoded halves (fp16), not copies; a view is safe because a region is only overwritten
 * after data that causally follows its own send arrives (the finished segment needs this rank's partial
 * sum), and the call returns only after every frame was serialised.
 *
 * <p>Determinism: segment s is summed in ring order starting at rank s, and the owner divides it by R
 * before it is gathered, so every rank ends with the same bits. Failure: every wait is bounded by
 * {@link Settings#timeout}; a broken link aborts the ring in both directions at once, so the other ranks
 * fail fast instead of each waiting out its own timeout. Once failed, the ring stays failed: re-form it
 * (new instances, new ring id) from the surviving ranks.
 *
 * <p>Not thread-safe: one reducing thread per rank.
 */
public final class RingAllReduce implements Collective {

    /**
     * @param timeout longest wait for a neighbour; must cover the compute skew between ranks (a rank that
     *     finishes its backward pass early waits for the slowest one inside the all-reduce)
     * @param chunkBytes fp32 payload per message (an fp16 message carries half as many bytes)
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
            return new Settings(timeout, DEFAULT_CHUNK_BYTES, "ring", GrpcTransport.PLAINTEXT);
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

    public static final int DEFAULT_CHUNK_BYTES = 1 << 20;
    /** Bytes in flight per link: the HTTP/2 window, and about as many again queued for the reducer. */
    private static final int WINDOW_BYTES = 16 << 20;

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
    private long bytesSent;
    private final RingReduction.Scratch scratch = new RingReduction.Scratch();

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
        int window = Math.max(WINDOW_BYTES, 4 * settings.chunkBytes());
        int maxMessage = settings.chunkBytes() + 4096;
        inbound = new RingInbound(settings.ringId(), rank, world, Math.max(2, window / settings.chunkBytes()),
                this::fail);
        InetSocketAddress self = address(members.get(rank));
        try {
            // directExecutor: callbacks only enqueue or signal, so running them on the event loop saves a hop
            server = settings.transport().bulkServer(self).directExecutor().addService(inbound.service())
                    .flowControlWindow(window).maxInboundMessageSize(maxMessage).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("rank " + rank + ": cannot listen on " + self, e);
        }
        String next = members.get((rank + 1) % world);
        InetSocketAddress to = address(next);
        // disableRetry: a retrying call keeps the sent frames to replay them later, and the payloads are views of
        // the caller's buffer, which changes once the call returns.
        channel = settings.transport().bulkChannel(to.getHostString(), to.getPort()).directExecutor()
                .disableRetry().flowControlWindow(window).maxInboundMessageSize(maxMessage).build();
        outbound = new RingOutbound(channel, settings.ringId(), rank, world, 2 * settings.chunkBytes(), this::fail);
    }

    private static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("expected host:port, got '" + hostPort + "'");
        }
        return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int world() {
        return world;
    }

    /**
     * Payload bytes this rank has streamed to its right neighbour so far, in wire precision (headers and framing not
     * counted): 2(R−1)/R of every all-reduced buffer, give or take a float per segment, halved for FP16.
     */
    @Override
    public long bytesSent() {
        return bytesSent;
    }

    /** In-place element-wise mean across ranks of fp32 values in native (little-endian) byte order. */
    public void allReduceMean(ByteBuffer data) {
        allReduceMean(data, 0);
    }

    /**
     * Tags the messages with {@code bucket} so that ranks reducing different buckets at the same step fail instead of
     * mixing them up; every rank must call with the same number of floats, buckets in the same order.
     */
    @Override
    public void allReduceMean(ByteBuffer data, int bucket, Precision precision) {
        run(data, (bytes, op) -> reduce(bytes, op, bucket, precision, 0, 2 * (world - 1)));
    }

    /** The reduce-scatter rounds alone (fp32): this rank owns segment rank + 1 (mod R) of the ring schedule. */
    @Override
    public Segment reduceScatterMean(ByteBuffer data, int bucket) {
        run(data, (bytes, op) -> reduce(bytes, op, bucket, Precision.FP32, 0, world - 1));
        return part(data.remaining() / 4, rank);
    }

    /** Rank r finishes segment r + 1 (mod R) of the ring schedule. */
    @Override
    public Segment part(int floats, int rank) {
        RingSchedule schedule = new RingSchedule(world, rank, floats, settings.chunkBytes() / 4);
        int owned = (rank + 1) % world;
        return new Segment(schedule.segmentStart(owned), schedule.segmentLength(owned));
    }

    /** The all-gather rounds alone (fp32), starting from the segment {@link #reduceScatterMean} leaves this rank. */
    @Override
    public void allGather(ByteBuffer data, int bucket) {
        run(data, (bytes, op) -> reduce(bytes, op, bucket, Precision.FP32, world - 1, 2 * (world - 1)));
    }

    @Override
    public void broadcast(ByteBuffer data, int root, int bucket) {
        if (root < 0 || root >= world) {
            throw new IllegalArgumentException("root " + root + " outside 0.." + (world - 1));
        }
        run(data, (bytes, op) -> bytesSent += RingRelay.run(inbound, outbound, settings, rank, world, bytes, op, root,
                bucket));
    }

    private void reduce(ByteBuffer bytes, long op, int bucket, Precision precision, int first, int end) {
        bytesSent += new RingReduction(inbound, outbound, settings, rank, world, scratch, bytes, op, bucket, precision,
                first, end).run();
    }

    /** One operation of this rank, numbered {@code op} on every rank; nothing moves in a ring of one. */
    private void run(ByteBuffer data, java.util.function.ObjLongConsumer<ByteBuffer> operation) {
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
            operation.accept(bytes, op);
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
    @Override
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

    @Override
    public String toString() {
        return "RingAllReduce[rank " + rank + " of " + members + "]";
    }
}
