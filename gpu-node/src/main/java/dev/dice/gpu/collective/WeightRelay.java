package dev.dice.gpu.collective;

import dev.dice.proto.collective.FetchRequest;
import dev.dice.proto.collective.RouteRequest;
import dev.dice.proto.collective.WeightSyncGrpc;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One node of the weight relay: fetches a version from the parent the publisher names ({@code WeightSync.Route}),
 * serves every chunk on to its own children as soon as it verified (its own {@link WeightPublisher}), and so
 * spares the publisher's uplink one copy per node. When the parent fails (its connection breaks, it gives up, or
 * no frame arrives for {@code stall}) the node reports it to the publisher and resumes from the chunk it reached,
 * fetching from the ancestor the publisher names next (the publisher itself last); its children notice a pause at
 * most. Every chunk and the whole payload are checked as from the publisher (CRC32C), end to end.
 */
public final class WeightRelay implements AutoCloseable {
    /** How one fetch went: the snapshot, and how many times a parent failed and it fetched from another. */
    public record Fetched(WeightSnapshot snapshot, int reroutes) {}

    private final String root;
    private final String address;
    private final WeightPublisher served;
    private final boolean ownsServed;
    private final GrpcTransport transport;
    private final Duration stall;
    private final ManagedChannel rootChannel;

    /** A relay serving on {@code host} (a free port), fetching through the publisher at {@code root} ("host:port"). */
    public static WeightRelay on(String host, String root, GrpcTransport transport, Duration stall) {
        WeightPublisher served = new WeightPublisher(host, 0, WeightPublisher.DEFAULT_CHUNK_BYTES, transport);
        return new WeightRelay(root, served, host + ":" + served.port(), true, transport, stall);
    }

    /**
     * A relay serving through {@code served}, which its children reach at {@code advertised} ("host:port", e.g. a
     * proxy in front of it). {@code served} stays the caller's to close.
     */
    public WeightRelay(String root, WeightPublisher served, String advertised, GrpcTransport transport, Duration stall) {
        this(root, served, advertised, false, transport, stall);
    }

    private WeightRelay(String root, WeightPublisher served, String advertised, boolean ownsServed,
            GrpcTransport transport, Duration stall) {
        this.root = root;
        this.served = served;
        this.ownsServed = ownsServed;
        this.address = advertised;
        this.transport = transport;
        this.stall = stall;
        this.rootChannel = channel(root);
    }

    /** Where children fetch from this relay. */
    public String address() {
        return address;
    }

    /**
     * Fetches exactly {@code version} through the relay tree, serving it on as it arrives.
     *
     * @throws CorruptSnapshotException a chunk or the whole payload failed its checksum (nothing installed)
     * @throws CollectiveException the publisher failed or could not be reached, or {@code timeout} passed
     */
    public Fetched fetch(long version, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        SnapshotAssembler assembler = new SnapshotAssembler(root, served);
        List<String> failed = new ArrayList<>();
        try {
            while (true) {
                String parent = route(version, failed, deadline);
                String source = parent.isEmpty() ? root : parent;
                try {
                    stream(source, version, assembler, deadline);
                    return new Fetched(assembler.finish(), failed.size());
                } catch (CorruptSnapshotException e) {
                    throw e;
                } catch (CollectiveException e) {
                    if (parent.isEmpty() || assembler.failed() || System.nanoTime() > deadline) {
                        throw e;
                    }
                    failed.add(parent);
                    assembler.resume();
                }
            }
        } catch (RuntimeException e) {
            assembler.fail(e.getMessage());
            throw e instanceof CollectiveException ? e
                    : new CollectiveException("weight relay of v" + version + " failed: " + e.getMessage(), e);
        }
    }

    private String route(long version, List<String> failed, long deadline) {
        try {
            return WeightSyncGrpc.newBlockingStub(rootChannel).withDeadlineAfter(remaining(deadline), TimeUnit.NANOSECONDS)
                    .route(RouteRequest.newBuilder().setVersion(version).setRelay(address).addAllFailed(failed).build())
                    .getParent();
        } catch (StatusRuntimeException e) {
            throw new CollectiveException("weight relay: the publisher " + root + " did not route v" + version + ": "
                    + e.getStatus(), e);
        }
    }

    /** Streams the rest of {@code version} from {@code source} into {@code assembler}; returns when it completed. */
    private void stream(String source, long version, SnapshotAssembler assembler, long deadline) {
        ManagedChannel channel = source.equals(root) ? rootChannel : channel(source);
        Leg leg = new Leg(source, version, assembler);
        ClientCall<FetchRequest, SnapshotWire.Frame> call = channel.newCall(SnapshotWire.FETCH,
                CallOptions.DEFAULT.withDeadlineAfter(remaining(deadline), TimeUnit.NANOSECONDS));
        try {
            ClientCalls.asyncServerStreamingCall(call, FetchRequest.newBuilder().setMinVersion(version).setWait(true)
                    .setFromChunk(assembler.nextChunk()).build(), leg);
            while (true) {
                try {
                    leg.done.get(Math.max(1, Math.min(stall.toMillis() / 4, remaining(deadline) / 1_000_000)),
                            TimeUnit.MILLISECONDS);
                    return;
                } catch (TimeoutException e) {
                    long quiet = System.nanoTime() - leg.lastFrame;
                    if (quiet > stall.toNanos() || System.nanoTime() > deadline) {
                        call.cancel("stalled", null);
                        throw new CollectiveException("weight relay of v" + version + " from " + source + ": no frame for "
                                + quiet / 1_000_000 + " ms", e);
                    }
                }
            }
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CollectiveException c) {
                throw c;
            }
            if (e.getCause() instanceof RuntimeException r && !(r instanceof StatusRuntimeException)) {
                throw r;
            }
            throw new CollectiveException("weight relay of v" + version + " from " + source + " failed: "
                    + Status.fromThrowable(e.getCause()), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            call.cancel("interrupted", e);
            throw new IllegalStateException("weight relay of v" + version + " interrupted", e);
        } finally {
            if (channel != rootChannel) {
                channel.shutdownNow();
            }
        }
    }

    /**
     * One parent's stream: frames go into the assembler as they arrive. A header of another version is the
     * parent's fault (fetch elsewhere); a bad chunk is the snapshot's (give up).
     */
    private static final class Leg implements ClientResponseObserver<FetchRequest, SnapshotWire.Frame> {
        private final String source;
        private final long version;
        private final SnapshotAssembler assembler;
        private final CompletableFuture<Void> done = new CompletableFuture<>();
        private volatile long lastFrame = System.nanoTime();
        private ClientCallStreamObserver<FetchRequest> call;

        Leg(String source, long version, SnapshotAssembler assembler) {
            this.source = source;
            this.version = version;
            this.assembler = assembler;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<FetchRequest> requests) {
            call = requests;
        }

        @Override
        public void onNext(SnapshotWire.Frame frame) {
            lastFrame = System.nanoTime();
            if (done.isDone()) {
                if (frame instanceof SnapshotWire.Chunk c) {
                    c.incoming().close();
                }
                return;
            }
            if (frame instanceof SnapshotWire.Header h && h.header().getVersion() != version) {
                done.completeExceptionally(new CollectiveException("weight relay: " + source + " serves v"
                        + h.header().getVersion() + ", not v" + version));
                call.cancel("another version", null);
                return;
            }
            try {
                assembler.accept(frame);
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
                call.cancel("rejected the snapshot: " + e.getMessage(), null);
            }
        }

        @Override
        public void onError(Throwable t) {
            done.completeExceptionally(new CollectiveException("weight relay of v" + version + " from " + source
                    + " failed: " + Status.fromThrowable(t), t));
        }

        @Override
        public void onCompleted() {
            done.complete(null);
        }
    }

    private ManagedChannel channel(String target) {
        int colon = target.lastIndexOf(':');
        int chunk = WeightPublisher.DEFAULT_CHUNK_BYTES;
        return transport.channel(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)))
                .directExecutor().flowControlWindow(Math.max(16 << 20, 4 * chunk)).maxInboundMessageSize(chunk + 4096)
                .build();
    }

    private static long remaining(long deadline) {
        return Math.max(1, deadline - System.nanoTime());
    }

    @Override
    public void close() {
        rootChannel.shutdownNow();
        if (ownsServed) {
            served.close();
        }
    }
}
