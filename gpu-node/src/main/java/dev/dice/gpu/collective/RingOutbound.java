package dev.dice.gpu.collective;

import dev.dice.proto.collective.RingAllReduceGrpc;
import dev.dice.proto.collective.RingClosed;
import dev.dice.proto.collective.RingFrame;
import dev.dice.proto.collective.RingHello;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.function.Consumer;

/**
 * This rank's link to its right neighbour: one long-lived client stream of {@code Pass}. {@link #send} waits
 * (bounded) until the transport is ready, so a neighbour that stops reading pushes back on this rank
 * instead of letting chunks pile up in memory, and a neighbour that stops for longer than the timeout
 * fails the step.
 */
final class RingOutbound implements ClientResponseObserver<RingFrame, RingClosed> {
    private final int rank;
    private final int right;
    private final Consumer<String> onFailure;
    private final Object readiness = new Object();
    private ClientCallStreamObserver<RingFrame> requests;
    private volatile String broken;

    RingOutbound(ManagedChannel channel, String ringId, int rank, int world, int readyThresholdBytes,
            Consumer<String> onFailure) {
        this.rank = rank;
        this.right = Math.floorMod(rank + 1, world);
        this.onFailure = onFailure;
        // waitForReady: the neighbour's server may start a little after this one; sends wait (bounded) for it.
        RingAllReduceGrpc.newStub(channel).withWaitForReady().withOnReadyThreshold(readyThresholdBytes)
                .pass(this);
        requests.onNext(RingFrame.newBuilder().setHello(RingHello.newBuilder()
                .setRingId(ringId).setSender(rank).setWorld(world)).build());
    }

    @Override
    public void beforeStart(ClientCallStreamObserver<RingFrame> stream) {
        this.requests = stream;
        stream.setOnReadyHandler(this::wake);
    }

    private void wake() {
        synchronized (readiness) {
            readiness.notifyAll();
        }
    }

    /**
     * Sends one frame once the stream can take it. The frame is serialised before this returns (gRPC frames a
     * message into transport buffers when the stream is ready), so its payload may be changed afterwards.
     */
    void send(RingFrame frame, Duration timeout, String during) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (readiness) {
            while (!requests.isReady()) {
                if (broken != null) {
                    throw new CollectiveException("rank " + rank + ": " + broken + ", " + during);
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new CollectiveException("rank " + rank + ": right neighbour rank " + right
                            + " accepted no data for " + timeout.toMillis() + " ms " + during
                            + " (that rank stalled, died or never started)");
                }
                try {
                    readiness.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new CollectiveException("rank " + rank + ": interrupted " + during, e);
                }
            }
        }
        if (broken != null) {
            throw new CollectiveException("rank " + rank + ": " + broken + ", " + during);
        }
        requests.onNext(frame);
    }

    @Override
    public void onNext(RingClosed value) {
        // the right neighbour closed its end cleanly; only a later send needs it, and that send fails
        broken = "right neighbour rank " + right + " left the ring";
        wake();
    }

    @Override
    public void onError(Throwable t) {
        if (broken == null) {
            broken = "the link to right neighbour rank " + right + " failed (" + Status.fromThrowable(t) + ")";
        }
        wake();
        onFailure.accept(broken);
    }

    @Override
    public void onCompleted() {
        wake();
    }

    /** Fails the stream: the right neighbour sees it cancelled and aborts its own step. */
    void abort(String why) {
        if (broken == null) {
            broken = "this rank aborted the ring: " + why;
        }
        requests.cancel(why, null);
        wake();
    }

    /** Ends the stream cleanly after everything sent so far. */
    void close() {
        requests.onCompleted();
    }
}
