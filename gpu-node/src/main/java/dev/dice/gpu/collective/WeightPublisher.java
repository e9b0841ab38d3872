package dev.dice.gpu.collective;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import dev.dice.proto.collective.FetchRequest;
import dev.dice.proto.collective.SnapshotChunk;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.SnapshotHeader;
import dev.dice.proto.collective.WeightSyncGrpc;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * Serves the latest published {@link WeightSnapshot} to any number of receivers ({@code WeightSync.Fetch}).
 * Publishing swaps the snapshot atomically; a fetch already running keeps streaming the version it started
 * with. Chunks are views of the snapshot's payload (no copy until gRPC frames them) and are sent only while
 * the receiver's stream is ready, so a slow receiver never makes the sender buffer the whole snapshot.
 */
public final class WeightPublisher implements AutoCloseable {
    public static final int DEFAULT_CHUNK_BYTES = 1 << 20;

    /** A snapshot with its header and per-chunk CRC32Cs computed once, however many receivers fetch it. */
    record Published(WeightSnapshot snapshot, SnapshotHeader header, int[] crc32c) {
        static Published of(WeightSnapshot snapshot, int chunkBytes) {
            ByteBuffer payload = snapshot.payload();
            int chunks = (payload.remaining() + chunkBytes - 1) / chunkBytes;
            int[] crcs = new int[chunks];
            for (int i = 0; i < chunks; i++) {
                CRC32C crc = new CRC32C();
                crc.update(slice(payload, i, chunkBytes));
                crcs[i] = (int) crc.getValue();
            }
            SnapshotHeader header = SnapshotHeader.newBuilder().setVersion(snapshot.version())
                    .addAllTensors(snapshot.tensors()).setTotalBytes(payload.remaining()).setChunkBytes(chunkBytes)
                    .setChunks(chunks).setSha256(ByteString.copyFrom(snapshot.sha256())).build();
            return new Published(snapshot, header, crcs);
        }

        SnapshotFrame frame(int index) {
            int chunkBytes = header.getChunkBytes();
            ByteBuffer data = slice(snapshot.payload(), index, chunkBytes);
            return SnapshotFrame.newBuilder().setChunk(SnapshotChunk.newBuilder().setVersion(snapshot.version())
                    .setIndex(index).setOffset((long) index * chunkBytes).setCrc32C(crc32c[index])
                    .setData(UnsafeByteOperations.unsafeWrap(data))).build();
        }

        private static ByteBuffer slice(ByteBuffer payload, int index, int chunkBytes) {
            int from = index * chunkBytes;
            return payload.slice(from, Math.min(chunkBytes, payload.remaining() - from));
        }
    }

    private final int chunkBytes;
    private final Server server;
    private volatile Published current;

    /** Listens on {@code host:port} (port 0 picks a free one, see {@link #port}), plaintext. */
    public WeightPublisher(String host, int port, int chunkBytes) {
        this(host, port, chunkBytes, GrpcTransport.PLAINTEXT);
    }

    public WeightPublisher(String host, int port, int chunkBytes, GrpcTransport transport) {
        this.chunkBytes = chunkBytes;
        try {
            server = transport.server(new InetSocketAddress(host, port)).directExecutor()
                    .flowControlWindow(4 * chunkBytes).addService(new Service()).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("weight publisher: cannot listen on " + host + ":" + port, e);
        }
    }

    public int port() {
        return server.getPort();
    }

    /** Makes {@code snapshot} the one served from now on (checksums computed here, once). */
    public void publish(WeightSnapshot snapshot) {
        Published previous = current;
        if (previous != null && snapshot.version() < previous.snapshot().version()) {
            throw new IllegalArgumentException("cannot publish v" + snapshot.version() + " after v"
                    + previous.snapshot().version());
        }
        current = Published.of(snapshot, chunkBytes);
    }

    /** The version being served, or -1 before the first publish. */
    public long version() {
        Published p = current;
        return p == null ? -1 : p.snapshot().version();
    }

    private final class Service extends WeightSyncGrpc.WeightSyncImplBase {
        @Override
        public void fetch(FetchRequest request, StreamObserver<SnapshotFrame> responses) {
            Published p = current;
            if (p == null || p.snapshot().version() < request.getMinVersion()) {
                responses.onError(Status.FAILED_PRECONDITION.withDescription("publisher holds v" + version()
                        + ", receiver wants at least v" + request.getMinVersion()).asRuntimeException());
                return;
            }
            stream(p, (ServerCallStreamObserver<SnapshotFrame>) responses);
        }
    }

    /** Streams {@code p} to one receiver, as fast as its stream drains. */
    static void stream(Published p, ServerCallStreamObserver<SnapshotFrame> out) {
        int[] next = {-1}; // -1: the header is next
        Runnable pump = () -> {
            synchronized (next) {
                int chunks = p.header().getChunks();
                while (out.isReady() && next[0] <= chunks && !out.isCancelled()) {
                    if (next[0] == -1) {
                        out.onNext(SnapshotFrame.newBuilder().setHeader(p.header()).build());
                    } else if (next[0] < chunks) {
                        out.onNext(p.frame(next[0]));
                    } else {
                        out.onCompleted();
                    }
                    next[0]++;
                }
            }
        };
        out.setOnReadyHandler(pump);
        pump.run();
    }

    @Override
    public void close() {
        server.shutdown();
        try {
            if (!server.awaitTermination(1, TimeUnit.SECONDS)) {
                server.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            server.shutdownNow();
        }
    }
}
