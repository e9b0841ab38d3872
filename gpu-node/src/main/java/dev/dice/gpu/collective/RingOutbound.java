package dev.dice.gpu.collective;

import dev.dice.proto.collective.RingClosed;
import dev.dice.proto.collective.RingHello;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.function.Consumer;

/**
 * This rank's link to its right neighbour: one long-lived client stream of {@code Pass}. {@link #send} never
 * blocks: frames wait in a queue and are handed to gRPC whenever the transport is ready (from the sending
 * thread, or from gRPC's event loop when the stream becomes ready again), so the reducing thread keeps receiving
 * while the link drains and a neighbour that stops reading pushes back through HTTP/2 flow control.
 *
 * <p>A frame's payload may be a view of the caller's buffer. gRPC serialises a frame into its own buffers
 * inside {@code onNext}; {@link #drain} waits until every queued frame got there, so once it returns the caller
 * may change or free the buffer.
 */
final class RingOutbound implements ClientResponseObserver<RingWire.Frame, RingClosed> {
    private final int rank;
    private final int right;
    private final Consumer<String> onFailure;
    private final ArrayDeque<RingWire.Frame> queue = new ArrayDeque<>(); // guarded by this
    private ClientCallStreamObserver<RingWire.Frame> requests;
    private long lastProgress = System.nanoTime(); // guarded by this: when a frame last left the queue
    private volatile String broken;

    RingOutbound(ManagedChannel channel, String ringId, int rank, int world, int readyThresholdBytes,
            Consumer<String> onFailure) {
        this.rank = rank;
        this.right = Math.floorMod(rank + 1, world);
        this.onFailure = onFailure;
        // waitForReady: the neighbour's server may start a little after this one; frames queue until it does.
        ClientCalls.asyncClientStreamingCall(channel.newCall(RingWire.PASS,
                CallOptions.DEFAULT.withWaitForReady().withOnReadyThreshold(readyThresholdBytes)), this);
        send(new RingWire.Hello(RingHello.newBuilder().setRingId(ringId).setSender(rank).setWorld(world).build()),
                "while joining the ring");
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<RingWire.Frame> stream) {
        this.requests = stream;
        stream.setOnReadyHandler(this::pump);
    }

    /** Queues one frame and sends what the transport takes now. */
    synchronized void send(RingWire.Frame frame, String during) {
        if (broken != null) {
            throw new CollectiveException("rank " + rank + ": " + broken + ", " + during);
        }
        if (queue.isEmpty()) {
            lastProgress = System.nanoTime();
        }
        queue.add(frame);
        pump();
    }

    private synchronized void pump() {
        while (broken == null && !queue.isEmpty() && requests.isReady()) {
            requests.onNext(queue.poll());
            lastProgress = System.nanoTime();
        }
        if (queue.isEmpty() || broken != null) {
            notifyAll();
        }
    }

    /**
     * Waits until every queued frame is in gRPC's hands (serialised), failing if none could leave for
     * {@code timeout} or the link broke.
     */
    synchronized void drain(Duration timeout, String during) {
        while (!queue.isEmpty()) {
            if (broken != null) {
                throw new CollectiveException("rank " + rank + ": " + broken + ", " + during);
            }
            long left = lastProgress + timeout.toNanos() - System.nanoTime();
            if (left <= 0) {
                throw new CollectiveException("rank " + rank + ": right neighbour rank " + right
                        + " accepted no data for " + timeout.toMillis() + " ms " + during
                        + " (that rank stalled, died or never started)");
            }
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CollectiveException("rank " + rank + ": interrupted " + during, e);
            }
        }
    }

    @Override
    public void onNext(RingClosed value) {
        // the right neighbour closed its end cleanly; only a later send needs it, and that send fails
        breakWith("right neighbour rank " + right + " left the ring");
    }

    @Override
    public void onError(Throwable t) {
        breakWith("the link to right neighbour rank " + right + " failed (" + Status.fromThrowable(t) + ")");
        onFailure.accept(broken);
    }

    @Override
    public void onCompleted() {
        breakWith("right neighbour rank " + right + " closed the link");
    }

    private synchronized void breakWith(String why) {
        if (broken == null) {
            broken = why;
        }
        queue.clear(); // views of a buffer the caller gets back with the failure: never send them later
        notifyAll();
    }

    /** Fails the stream: the right neighbour sees it cancelled and aborts its own step. */
    void abort(String why) {
        breakWith("this rank aborted the ring: " + why);
        requests.cancel(why, null);
    }

    /** Ends the stream cleanly after everything sent so far. */
    synchronized void close() {
        requests.onCompleted();
    }
}
