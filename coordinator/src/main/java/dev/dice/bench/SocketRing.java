package dev.dice.bench;

import dev.dice.gpu.collective.RingSchedule;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * A reference for {@code dice bench allreduce}, not for training: the ring all-reduce of
 * {@code dev.dice.gpu.collective.RingAllReduce} — the same {@link RingSchedule} of segments, 1 MiB chunks, pipelining (a chunk goes on as
 * soon as it arrived and was added) and fp32 sums in the caller's buffer — over plain blocking socket channels to
 * the neighbours, with no framing, headers, checksums or timeouts. It shows what the ring algorithm itself costs on
 * a machine, so that the gRPC ring's figures can be held against it.
 *
 * <p>Rank r reads from rank r−1 on the calling thread and writes to rank r+1 on a sender thread (two blocking
 * writers facing each other would deadlock once the socket buffers are full). A failed or hung neighbour blocks
 * the others: the bench stops every process when one fails.
 */
final class SocketRing implements AutoCloseable {
    private static final int CHUNK_FLOATS = (1 << 20) / 4;
    private static final ByteBuffer END = ByteBuffer.allocate(0);

    private final int rank;
    private final int world;
    private final SocketChannel out;
    private final SocketChannel in;
    private final BlockingQueue<ByteBuffer> sends = new ArrayBlockingQueue<>(1024);
    private final BlockingQueue<Object> sent = new ArrayBlockingQueue<>(1);
    private final Thread sender;
    private volatile IOException sendFailure;
    private final float[] mine = new float[CHUNK_FLOATS];
    private final float[] theirs = new float[CHUNK_FLOATS];
    private final ByteBuffer incoming = ByteBuffer.allocateDirect(CHUNK_FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);

    /** Listens at {@code members.get(rank)}, connects to the next member (waiting for it to listen), accepts the previous. */
    SocketRing(List<InetSocketAddress> members, int rank) {
        if (members.size() < 2) {
            throw new IllegalArgumentException("a socket ring needs at least 2 ranks, got " + members.size());
        }
        this.rank = rank;
        this.world = members.size();
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(members.get(rank));
            out = connect(members.get((rank + 1) % world));
            out.socket().setTcpNoDelay(true);
            in = server.accept();
        } catch (IOException e) {
            throw new UncheckedIOException("socket ring rank " + rank, e);
        }
        sender = new Thread(this::sendLoop, "socket-ring-sender-" + rank);
        sender.setDaemon(true);
        sender.start();
    }

    private static SocketChannel connect(InetSocketAddress to) throws IOException {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (true) {
            try {
                return SocketChannel.open(to);
            } catch (ConnectException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while connecting to " + to, ie);
                }
            }
        }
    }

    /** Writes queued views of the buffer; {@link #END} marks the end of an all-reduce. */
    private void sendLoop() {
        try {
            while (true) {
                ByteBuffer b = sends.take();
                if (b == END) {
                    sent.put(END);
                    continue;
                }
                while (b.hasRemaining()) {
                    out.write(b);
                }
            }
        } catch (IOException e) {
            sendFailure = e;
            sent.offer(END);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** In-place element-wise mean across ranks of the fp32 values (little-endian) in {@code data}. */
    void allReduceMean(ByteBuffer data) {
        ByteBuffer bytes = data.slice().order(ByteOrder.LITTLE_ENDIAN);
        FloatBuffer floats = bytes.asFloatBuffer();
        RingSchedule schedule = new RingSchedule(world, rank, floats.remaining(), CHUNK_FLOATS);
        int steps = schedule.steps();
        try {
            send(bytes, schedule, schedule.sentSegment(0));
            for (int t = 0; t < steps; t++) {
                int segment = schedule.receivedSegment(t);
                for (int k = 0; k < schedule.chunks(segment); k++) {
                    int from = schedule.from(segment, k);
                    int count = schedule.count(segment, k);
                    if (t < world - 1) {
                        readFully(incoming.clear().limit(count * 4));
                        incoming.flip().asFloatBuffer().get(theirs, 0, count);
                        floats.get(from, mine, 0, count);
                        schedule.reduce(t, mine, theirs, count);
                        floats.put(from, mine, 0, count);
                    } else {
                        readFully(bytes.slice(from * 4, count * 4)); // all-gather: straight into the buffer
                    }
                    if (t + 1 < steps) {
                        sends.put(bytes.slice(from * 4, count * 4));
                    }
                }
            }
            sends.put(END);
            sent.take(); // every byte written before the caller may change the buffer
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("socket ring rank " + rank + " interrupted", e);
        }
        if (sendFailure != null) {
            throw new UncheckedIOException("socket ring rank " + rank + ": sending", sendFailure);
        }
    }

    private void send(ByteBuffer bytes, RingSchedule schedule, int segment) throws InterruptedException {
        for (int k = 0; k < schedule.chunks(segment); k++) {
            sends.put(bytes.slice(schedule.from(segment, k) * 4, schedule.count(segment, k) * 4));
        }
    }

    private void readFully(ByteBuffer target) {
        try {
            while (target.hasRemaining()) {
                if (in.read(target) < 0) {
                    throw new IOException("left neighbour closed the connection");
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("socket ring rank " + rank + ": receiving", e);
        }
    }

    @Override
    public void close() {
        sender.interrupt();
        try {
            out.close();
            in.close();
        } catch (IOException e) {
            throw new UncheckedIOException("socket ring rank " + rank + ": closing", e);
        }
    }
}
