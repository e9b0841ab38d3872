package dev.dice.gpu.collective;

import dev.dice.proto.collective.RingAllReduceGrpc;
import dev.dice.proto.collective.RingClosed;
import dev.dice.proto.collective.RingHello;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * This rank's end of the link from its left neighbour: the server side of {@code Pass}. Chunks go into a
 * queue the reducing thread takes from. Flow control is manual: the transport delivers at most
 * {@code credit} chunks ahead of what the reducer has taken (enough to keep the link busy while the reducer
 * adds), so a slow reducer pushes back on the sender through HTTP/2 instead of buffering without bound.
 */
final class RingInbound {

    /** Queue entry that ends the link: why, as the message of the exception the reducer will throw. */
    private record Broken(String why) {}

    private final String ringId;
    private final int rank;
    private final int left;
    private final int world;
    private final int credit;
    private final Consumer<String> onFailure;
    private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
    private ServerCallStreamObserver<RingClosed> call; // guarded by this
    private boolean finished; // guarded by this: the response side has been closed
    private String aborted; // guarded by this: why this rank aborted the ring; a link that arrives later is refused
    private long received;

    RingInbound(String ringId, int rank, int world, int credit, Consumer<String> onFailure) {
        this.ringId = ringId;
        this.rank = rank;
        this.left = Math.floorMod(rank - 1, world);
        this.world = world;
        this.credit = credit;
        this.onFailure = onFailure;
    }

    /** The {@code Pass} service with {@link RingWire}'s framing. */
    ServerServiceDefinition service() {
        return ServerServiceDefinition.builder(RingAllReduceGrpc.SERVICE_NAME)
                .addMethod(RingWire.PASS, ServerCalls.asyncClientStreamingCall(this::pass)).build();
    }

    private StreamObserver<RingWire.Frame> pass(StreamObserver<RingClosed> responses) {
        ServerCallStreamObserver<RingClosed> stream = (ServerCallStreamObserver<RingClosed>) responses;
        stream.disableAutoRequest();
        stream.request(1); // the hello
        return new StreamObserver<>() {
            private boolean accepted;

            @Override
            public void onNext(RingWire.Frame frame) {
                if (!accepted) {
                    accepted = accept(stream, frame);
                    return;
                }
                if (!(frame instanceof RingWire.Chunk chunk)) {
                    broken("left neighbour rank " + left + " sent a second hello");
                    return;
                }
                synchronized (RingInbound.this) {
                    if (!finished) {
                        queue.add(chunk);
                        return;
                    }
                }
                chunk.incoming().close(); // this end is closed: nobody will take it
            }

            @Override
            public void onError(Throwable t) {
                if (accepted) {
                    broken("the link from left neighbour rank " + left + " failed (" + Status.fromThrowable(t)
                            + "): that rank died or aborted the ring");
                }
            }

            @Override
            public void onCompleted() {
                if (accepted) {
                    // No cascade: data sent before the close is still queued ahead of this marker, and a
                    // reducer that needs more than that will fail on it (and abort the ring then).
                    queue.add(new Broken("left neighbour rank " + left + " left the ring (closed its stream)"));
                    finish(stream, false);
                }
            }
        };
    }

    private boolean accept(ServerCallStreamObserver<RingClosed> stream, RingWire.Frame frame) {
        String problem = null;
        RingHello hello = frame instanceof RingWire.Hello h ? h.hello() : RingHello.getDefaultInstance();
        if (frame instanceof RingWire.Chunk c) {
            c.incoming().close();
            problem = "the first frame must be a hello";
        } else if (!hello.getRingId().equals(ringId) || hello.getWorld() != world || hello.getSender() != left) {
            problem = "rank " + rank + " of ring '" + ringId + "' (world " + world + ") expects its left neighbour rank "
                    + left + ", not rank " + hello.getSender() + " of ring '" + hello.getRingId() + "' (world "
                    + hello.getWorld() + ")";
        }
        synchronized (this) {
            if (problem == null && aborted != null) {
                // the neighbour joined after this rank aborted: without this it would wait out its timeout
                stream.onError(Status.ABORTED.withDescription("rank " + rank + " aborted the ring: " + aborted)
                        .asRuntimeException());
                return false;
            }
            if (problem == null && call != null) {
                problem = "rank " + rank + " already has a link from rank " + left;
            }
            if (problem != null) {
                stream.onError(Status.FAILED_PRECONDITION.withDescription(problem).asRuntimeException());
                return false;
            }
            call = stream;
        }
        stream.request(credit);
        return true;
    }

    /** The link died under us: wake the reducer, and let the owner abort the rest of the ring at once. */
    private void broken(String why) {
        queue.add(new Broken(why));
        onFailure.accept(why);
    }

    /**
     * The next chunk from the left neighbour, waiting at most {@code timeout}.
     *
     * @param during what this rank is doing, for the error message
     */
    RingWire.Chunk take(Duration timeout, String during) {
        Object next;
        try {
            next = queue.poll(timeout.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CollectiveException("rank " + rank + ": interrupted " + during, e);
        }
        if (next == null) {
            throw new CollectiveException("rank " + rank + ": no data from left neighbour rank " + left + " for "
                    + timeout.toMillis() + " ms " + during + " (that rank stalled or died)");
        }
        if (next instanceof Broken b) {
            queue.add(b); // every later take fails the same way
            throw new CollectiveException("rank " + rank + ": " + b.why() + ", " + during);
        }
        received++;
        ServerCallStreamObserver<RingClosed> c;
        synchronized (this) {
            c = call;
        }
        c.request(1);
        return (RingWire.Chunk) next;
    }

    /** Wakes a waiting reducer with {@code why}, and fails the left neighbour's stream with it. */
    void abort(String why) {
        synchronized (this) {
            aborted = why;
            releaseQueued();
            if (call != null && !finished) {
                finished = true;
                call.onError(Status.ABORTED.withDescription("rank " + rank + " aborted the ring: " + why)
                        .asRuntimeException());
            }
        }
        queue.add(new Broken(why));
    }

    /** Gives the transport buffers of chunks nobody will take back. */
    private synchronized void releaseQueued() {
        for (Object o; (o = queue.poll()) != null; ) {
            if (o instanceof RingWire.Chunk c) {
                c.incoming().close();
            }
        }
    }

    /** Ends the link cleanly: the left neighbour sees its stream complete. */
    void close() {
        ServerCallStreamObserver<RingClosed> c;
        synchronized (this) {
            c = call;
        }
        if (c != null) {
            finish(c, true);
        }
    }

    private synchronized void finish(ServerCallStreamObserver<RingClosed> stream, boolean release) {
        if (!finished) {
            finished = true;
            if (release) {
                releaseQueued();
            }
            stream.onNext(RingClosed.newBuilder().setChunksReceived(received).build());
            stream.onCompleted();
        }
    }
}
