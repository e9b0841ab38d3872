package dev.dice.gpu.collective;

import dev.dice.proto.collective.FetchRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Fetches weight snapshots from a {@link WeightPublisher} and holds the last one that verified. A snapshot is
 * assembled off to the side, checked chunk by chunk and as a whole (CRC32C), and only then becomes
 * {@link #installed()} in one reference swap: readers see the old version or the new one, never a mix, and a
 * damaged transfer leaves the old version in place. Chunks are checked and copied on gRPC's transport thread as
 * they arrive, straight out of the transport's buffers.
 */
public final class WeightReceiver implements AutoCloseable {
    private final String source;
    private final ManagedChannel channel;
    private volatile WeightSnapshot installed;
    private volatile WeightPublisher relay;

    /** @param publisher "host:port" of the publisher (plaintext) */
    public WeightReceiver(String publisher, int maxChunkBytes) {
        this(publisher, maxChunkBytes, GrpcTransport.PLAINTEXT);
    }

    public WeightReceiver(String publisher, int maxChunkBytes, GrpcTransport transport) {
        this.source = publisher;
        int colon = publisher.lastIndexOf(':');
        channel = transport.channel(publisher.substring(0, colon),
                Integer.parseInt(publisher.substring(colon + 1))).directExecutor()
                .flowControlWindow(Math.max(16 << 20, 4 * maxChunkBytes)).maxInboundMessageSize(maxChunkBytes + 4096)
                .build();
    }

    /**
     * From now on, serves every snapshot this receiver fetches on {@code publisher} while it arrives, each chunk
     * once it verified: a chain publisher → receiver/relay → receiver/relay → ... moves a snapshot over every
     * link at once instead of R−1 times out of the first publisher. Downstream receivers verify it again.
     */
    public WeightReceiver relayThrough(WeightPublisher publisher) {
        this.relay = publisher;
        return this;
    }

    /** The last verified snapshot, or null before the first. */
    public WeightSnapshot installed() {
        return installed;
    }

    /** The version held, or -1. */
    public long version() {
        WeightSnapshot s = installed;
        return s == null ? -1 : s.version();
    }

    /**
     * Fetches the publisher's current snapshot (at least {@code minVersion}), verifies it and installs it.
     *
     * @throws CorruptSnapshotException a chunk or the whole payload failed its checksum (nothing installed)
     * @throws CollectiveException the publisher holds an older version, or the transfer failed or took longer
     *     than {@code timeout}
     */
    public WeightSnapshot fetch(long minVersion, Duration timeout) {
        return fetch(minVersion, timeout, false);
    }

    /**
     * Like {@link #fetch(long, Duration)}, but if the publisher holds an older version, waits (within
     * {@code timeout}) until it publishes one at least {@code minVersion} instead of failing.
     */
    public WeightSnapshot awaitVersion(long minVersion, Duration timeout) {
        return fetch(minVersion, timeout, true);
    }

    private WeightSnapshot fetch(long minVersion, Duration timeout, boolean wait) {
        Transfer transfer = new Transfer(new SnapshotAssembler(source, relay));
        ClientCall<FetchRequest, SnapshotWire.Frame> call = channel.newCall(SnapshotWire.FETCH,
                CallOptions.DEFAULT.withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS));
        ClientCalls.asyncServerStreamingCall(call,
                FetchRequest.newBuilder().setMinVersion(minVersion).setWait(wait).build(), transfer);
        try {
            WeightSnapshot fresh = transfer.done.get(timeout.toMillis() + 1000, TimeUnit.MILLISECONDS);
            installed = fresh;
            return fresh;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CollectiveException c) {
                throw c;
            }
            throw new CollectiveException("weight fetch from " + source + " failed: " + Status.fromThrowable(e.getCause()),
                    e.getCause());
        } catch (TimeoutException e) {
            call.cancel("timed out", null);
            throw new CollectiveException("weight fetch from " + source + " took longer than " + timeout.toMillis()
                    + " ms", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            call.cancel("interrupted", e);
            throw new CollectiveException("weight fetch from " + source + " interrupted", e);
        }
    }

    /** One fetch: frames go into the assembler as they arrive; a bad one cancels the call at once. */
    private static final class Transfer implements ClientResponseObserver<FetchRequest, SnapshotWire.Frame> {
        private final SnapshotAssembler assembler;
        private final CompletableFuture<WeightSnapshot> done = new CompletableFuture<>();
        private ClientCallStreamObserver<FetchRequest> call;

        Transfer(SnapshotAssembler assembler) {
            this.assembler = assembler;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<FetchRequest> requests) {
            call = requests;
        }

        @Override
        public void onNext(SnapshotWire.Frame frame) {
            if (done.isDone()) {
                if (frame instanceof SnapshotWire.Chunk c) {
                    c.incoming().close();
                }
                return;
            }
            try {
                assembler.accept(frame);
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
                call.cancel("rejected the snapshot: " + e.getMessage(), null); // stops the sender right away
            }
        }

        @Override
        public void onError(Throwable t) {
            assembler.fail(String.valueOf(Status.fromThrowable(t)));
            done.completeExceptionally(t);
        }

        @Override
        public void onCompleted() {
            try {
                done.complete(assembler.finish());
            } catch (RuntimeException e) {
                done.completeExceptionally(e);
            }
        }
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
