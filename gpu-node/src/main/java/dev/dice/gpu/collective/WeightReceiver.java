package dev.dice.gpu.collective;

import dev.dice.proto.collective.FetchRequest;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.WeightSyncGrpc;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

/**
 * Fetches weight snapshots from a {@link WeightPublisher} and holds the last one that verified. A snapshot is
 * assembled off to the side, checked chunk by chunk (CRC32C) and as a whole (SHA-256), and only then
 * becomes {@link #installed()} in one reference swap: readers see the old version or the new one, never a
 * mix, and a damaged transfer leaves the old version in place.
 */
public final class WeightReceiver implements AutoCloseable {
    private final String source;
    private final ManagedChannel channel;
    private volatile WeightSnapshot installed;

    /** @param publisher "host:port" of the publisher (plaintext) */
    public WeightReceiver(String publisher, int maxChunkBytes) {
        this(publisher, maxChunkBytes, GrpcTransport.PLAINTEXT);
    }

    public WeightReceiver(String publisher, int maxChunkBytes, GrpcTransport transport) {
        this.source = publisher;
        int colon = publisher.lastIndexOf(':');
        channel = transport.channel(publisher.substring(0, colon),
                Integer.parseInt(publisher.substring(colon + 1))).directExecutor()
                .flowControlWindow(4 * maxChunkBytes).maxInboundMessageSize(maxChunkBytes + 4096).build();
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
     * @throws CollectiveException the transfer failed or took longer than {@code timeout}
     */
    public WeightSnapshot fetch(long minVersion, Duration timeout) {
        // A cancellable context, so giving up on a bad chunk also stops the sender right away.
        Context.CancellableContext call = Context.current().withCancellation();
        try {
            WeightSnapshot fresh = call.call(() -> receive(minVersion, timeout));
            installed = fresh;
            return fresh;
        } catch (CollectiveException e) {
            throw e;
        } catch (StatusRuntimeException e) {
            throw new CollectiveException("weight fetch from " + source + " failed: " + e.getStatus(), e);
        } catch (Exception e) {
            throw new CollectiveException("weight fetch from " + source + " failed: " + e, e);
        } finally {
            call.cancel(null);
        }
    }

    private WeightSnapshot receive(long minVersion, Duration timeout) {
        Iterator<SnapshotFrame> frames = WeightSyncGrpc.newBlockingStub(channel)
                .withDeadlineAfter(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .fetch(FetchRequest.newBuilder().setMinVersion(minVersion).build());
        SnapshotAssembler assembler = new SnapshotAssembler(source);
        while (frames.hasNext()) {
            assembler.accept(frames.next());
        }
        return assembler.finish();
    }

    @Override
    public void close() {
        channel.shutdownNow();
    }
}
