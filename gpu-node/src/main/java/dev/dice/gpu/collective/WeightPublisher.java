package dev.dice.gpu.collective;

import com.google.protobuf.ByteString;
import dev.dice.proto.collective.FetchRequest;
import dev.dice.proto.collective.RouteReply;
import dev.dice.proto.collective.RouteRequest;
import dev.dice.proto.collective.SnapshotChunk;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.SnapshotHeader;
import dev.dice.proto.collective.WeightSyncGrpc;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.ServerCalls;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * Serves the latest published {@link WeightSnapshot} to any number of receivers ({@code WeightSync.Fetch}).
 * Publishing swaps the snapshot atomically; a fetch already running keeps streaming the version it started
 * with. Chunks are views of the snapshot's payload (copied once, into gRPC's buffers) and are sent only while
 * the receiver's stream is ready, so a slow receiver never makes the sender buffer the whole snapshot.
 *
 * <p>A publisher can also relay (see {@link WeightReceiver#relayThrough}): it then serves a snapshot while
 * it is still arriving, each chunk as soon as it verified, so that a chain of ranks moves the weights over
 * all its links at once. It also routes relays ({@code WeightSync.Route}, see {@link WeightRelay}): which node
 * each one fetches a version from, so that it sends each version once, however many nodes fetch it.
 */
public final class WeightPublisher implements AutoCloseable {
    public static final int DEFAULT_CHUNK_BYTES = 1 << 20;

    /**
     * A snapshot with its header and per-chunk CRC32Cs, computed once however many receivers fetch it. A relayed
     * one fills up: chunks below {@link #available} are verified and may be served.
     */
    static final class Published {
        private final SnapshotHeader header;
        private final Segments payload;
        private final int[] crc32c;
        private final List<Runnable> waiting = new ArrayList<>(); // guarded by this: pumps out of chunks
        private volatile int available;
        private volatile String failure;

        private Published(SnapshotHeader header, Segments payload, int[] crc32c, int available) {
            this.header = header;
            this.payload = payload;
            this.crc32c = crc32c;
            this.available = available;
        }

        /** @throws IllegalArgumentException {@code chunkBytes} does not divide the snapshot's segment size */
        static Published of(WeightSnapshot snapshot, int chunkBytes) {
            Segments payload = snapshot.payload();
            if (chunkBytes <= 0 || payload.segmentBytes() % chunkBytes != 0) {
                throw new IllegalArgumentException("chunks of " + chunkBytes + " bytes do not divide the snapshot's"
                        + " segments of " + payload.segmentBytes() + " (a chunk must lie within one segment)");
            }
            int chunks = Segments.segmentCount(payload.size(), chunkBytes);
            int[] crcs = new int[chunks];
            payload.read(() -> {
                for (int i = 0; i < chunks; i++) {
                    CRC32C crc = new CRC32C();
                    crc.update(slice(payload, i, chunkBytes));
                    crcs[i] = (int) crc.getValue();
                }
            });
            if (!payload.retain()) {
                throw new IllegalStateException("v" + snapshot.version() + " was released; it cannot be published");
            }
            SnapshotHeader header = SnapshotHeader.newBuilder().setVersion(snapshot.version())
                    .addAllTensors(snapshot.tensors()).setTotalBytes(payload.size()).setChunkBytes(chunkBytes)
                    .setChunks(chunks).setPayloadCrc32C(snapshot.crc32c()).build();
            return new Published(header, payload, crcs, chunks);
        }

        /** A snapshot that is still arriving into {@code payload}, chunk by chunk, with the sender's checksums. */
        static Published relayed(SnapshotHeader header, Segments payload) {
            payload.retain();
            return new Published(header, payload, new int[header.getChunks()], 0);
        }

        /** Its payload may be freed once the fetches streaming it end. */
        void release() {
            payload.release();
        }

        SnapshotHeader header() {
            return header;
        }

        long version() {
            return header.getVersion();
        }

        /** Chunk {@code index} as the generated message (tests build damaged streams from it). */
        SnapshotFrame frame(int index) {
            return SnapshotFrame.newBuilder().setChunk(fields(index).toBuilder()
                    .setData(payload.read(() -> ByteString.copyFrom(slice(payload, index, header.getChunkBytes())))))
                    .build();
        }

        private SnapshotChunk fields(int index) {
            return SnapshotChunk.newBuilder().setVersion(header.getVersion()).setIndex(index)
                    .setOffset((long) index * header.getChunkBytes()).setCrc32C(crc32c[index]).build();
        }

        /** Chunk {@code index} handed to {@code out}, which copies it into the transport before it returns. */
        void send(int index, ServerCallStreamObserver<SnapshotWire.Frame> out) {
            payload.read(() -> out.onNext(new SnapshotWire.Chunk(fields(index),
                    slice(payload, index, header.getChunkBytes()), null)));
        }

        /** Chunk {@code index} arrived and verified (relays, in order). */
        void arrived(int index, int crc) {
            crc32c[index] = crc;
            available = index + 1;
            wakeAll();
        }

        /** The relayed transfer failed: fetchers streaming it fail too. */
        void fail(String why) {
            failure = why;
            wakeAll();
        }

        private void wakeAll() {
            List<Runnable> pumps;
            synchronized (this) {
                pumps = new ArrayList<>(waiting);
                waiting.clear();
            }
            pumps.forEach(Runnable::run);
        }

        /** Runs {@code pump} once more chunks are available (or at once, if they already are). */
        void whenMoreThan(int chunks, Runnable pump) {
            synchronized (this) {
                if (available <= chunks && failure == null) {
                    waiting.add(pump);
                    return;
                }
            }
            pump.run();
        }

        private static ByteBuffer slice(Segments payload, int index, int chunkBytes) {
            long from = (long) index * chunkBytes;
            return payload.slice(from, (int) Math.min(chunkBytes, payload.size() - from));
        }
    }

    /**
     * One receiver's stream: the header, then each chunk as soon as the stream is ready and the chunk exists. It
     * holds the snapshot's payload from its start to its end (completed, failed or cancelled).
     */
    private static final class Feed {
        private final ServerCallStreamObserver<SnapshotWire.Frame> out;
        private final long minVersion;
        private final int fromChunk;
        private Published p; // guarded by this: null while waiting for a new enough version
        private int next = -1; // guarded by this: -1, the header is next
        private boolean ended; // guarded by this: the payload is let go

        /** Must run while gRPC calls {@code fetch}: handlers can only be set then. */
        Feed(ServerCallStreamObserver<SnapshotWire.Frame> out, FetchRequest request) {
            this.out = out;
            this.minVersion = request.getMinVersion();
            this.fromChunk = request.getFromChunk();
            out.setOnReadyHandler(this::pump);
        }

        void start(Published published) {
            if (fromChunk != 0 && (published.version() != minVersion || fromChunk < 0
                    || fromChunk > published.header().getChunks())) {
                out.onError(Status.FAILED_PRECONDITION.withDescription("cannot resume v" + minVersion + " at chunk "
                        + fromChunk + ": serving v" + published.version() + " of " + published.header().getChunks()
                        + " chunks").asRuntimeException());
                return;
            }
            if (!published.payload.retain()) {
                out.onError(Status.UNAVAILABLE.withDescription("v" + published.version() + " was just replaced")
                        .asRuntimeException());
                return;
            }
            synchronized (this) {
                p = published;
                if (ended) { // cancelled before it started
                    p.release();
                    return;
                }
            }
            pump();
        }

        /** The stream ended: the payload may go. */
        synchronized void end() {
            if (!ended && p != null) {
                p.release();
            }
            ended = true;
        }

        synchronized void pump() {
            if (p == null || ended) {
                return;
            }
            int chunks = p.header().getChunks();
            while (next <= chunks && out.isReady() && !out.isCancelled()) {
                if (p.failure != null) {
                    out.onError(Status.DATA_LOSS.withDescription("relay failed: " + p.failure).asRuntimeException());
                    end();
                    return;
                }
                if (next == -1) {
                    out.onNext(new SnapshotWire.Header(p.header()));
                    next = fromChunk;
                    continue;
                } else if (next < chunks) {
                    if (next >= p.available) {
                        p.whenMoreThan(next, this::pump);
                        return;
                    }
                    p.send(next, out);
                } else {
                    out.onCompleted();
                    end();
                    return;
                }
                next++;
            }
            if (out.isCancelled()) {
                end();
            }
        }
    }

    /** Children per relay below the publisher's one child (1: a chain). */
    public static final int DEFAULT_RELAY_FAN_OUT = 1;

    private final int chunkBytes;
    private final Server server;
    private final List<Feed> waiting = new ArrayList<>(); // guarded by this: fetches of a version not here yet
    private volatile Published current;
    private long routedVersion = -1; // guarded by this: the version relayTree routes
    private RelayTree relayTree; // guarded by this
    private int relayFanOut = DEFAULT_RELAY_FAN_OUT; // guarded by this

    /** Listens on {@code host:port} (port 0 picks a free one, see {@link #port}), plaintext. */
    public WeightPublisher(String host, int port, int chunkBytes) {
        this(host, port, chunkBytes, GrpcTransport.PLAINTEXT);
    }

    public WeightPublisher(String host, int port, int chunkBytes, GrpcTransport transport) {
        this.chunkBytes = chunkBytes;
        ServerServiceDefinition service = ServerServiceDefinition.builder(WeightSyncGrpc.SERVICE_NAME)
                .addMethod(SnapshotWire.FETCH, ServerCalls.asyncServerStreamingCall(this::fetch))
                .addMethod(WeightSyncGrpc.getRouteMethod(), ServerCalls.asyncUnaryCall(this::route)).build();
        try {
            server = transport.server(new InetSocketAddress(host, port)).directExecutor()
                    .flowControlWindow(Math.max(16 << 20, 4 * chunkBytes)).addService(service).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("weight publisher: cannot listen on " + host + ":" + port, e);
        }
    }

    public int port() {
        return server.getPort();
    }

    /**
     * Makes {@code snapshot} the one served from now on (checksums computed here, once). The publisher holds its
     * payload until it serves another version or closes; the caller may {@link WeightSnapshot#release} its own hold.
     */
    public void publish(WeightSnapshot snapshot) {
        serve(Published.of(snapshot, chunkBytes));
    }

    /** Serves {@code next} from now on; it may still be arriving (relays). */
    void serve(Published next) {
        List<Feed> ready = new ArrayList<>();
        Published previous;
        synchronized (this) {
            previous = current;
            if (previous != null && next.version() < previous.version()) {
                next.release();
                throw new IllegalArgumentException("cannot publish v" + next.version() + " after v"
                        + previous.version());
            }
            current = next;
            waiting.removeIf(f -> {
                if (f.minVersion <= next.version()) {
                    ready.add(f);
                    return true;
                }
                return f.out.isCancelled();
            });
        }
        if (previous != null) {
            previous.release(); // freed once the fetches still streaming it end
        }
        ready.forEach(f -> f.start(next));
    }

    /**
     * Stops serving the current version (fetches already streaming it finish; new ones wait for the next or are
     * refused), so that its memory can go before the next version is copied.
     */
    public void withdraw() {
        Published last;
        synchronized (this) {
            last = current;
            current = null;
        }
        if (last != null) {
            last.release();
        }
    }

    /** The version being served (possibly still arriving, when relaying), or -1 before the first. */
    public long version() {
        Published p = current;
        return p == null ? -1 : p.version();
    }

    private void fetch(FetchRequest request, StreamObserver<SnapshotWire.Frame> responses) {
        ServerCallStreamObserver<SnapshotWire.Frame> out = (ServerCallStreamObserver<SnapshotWire.Frame>) responses;
        Feed feed = new Feed(out, request);
        out.setOnCancelHandler(() -> {
            synchronized (this) {
                waiting.remove(feed);
            }
            feed.end();
        });
        Published p;
        synchronized (this) {
            p = current;
            if (p == null || p.version() < request.getMinVersion()) {
                if (request.getWait()) {
                    waiting.add(feed);
                } else {
                    out.onError(Status.FAILED_PRECONDITION.withDescription("publisher holds v" + version()
                            + ", receiver wants at least v" + request.getMinVersion()).asRuntimeException());
                }
                return;
            }
        }
        feed.start(p);
    }

    /** Children per relay from the next version on (the publisher itself always has one). */
    public synchronized WeightPublisher relayFanOut(int fanOut) {
        new RelayTree(fanOut); // checks it
        relayFanOut = fanOut;
        return this;
    }

    /**
     * Where {@code relay} should fetch {@code version} from ({@link RelayTree#ROOT}: here), given the parents that
     * failed it. One tree per version: asking for a newer version starts a new one.
     */
    synchronized String route(long version, String relay, List<String> failed) {
        if (version > routedVersion || relayTree == null) {
            routedVersion = version;
            relayTree = new RelayTree(relayFanOut);
        }
        return version < routedVersion ? RelayTree.ROOT : relayTree.parentOf(relay, failed);
    }

    /** The relays of {@code version} in the order they asked (empty for another version): logs and tests. */
    public synchronized List<String> relays(long version) {
        return version == routedVersion && relayTree != null ? relayTree.members() : List.of();
    }

    private void route(RouteRequest request, StreamObserver<RouteReply> reply) {
        if (request.getRelay().isEmpty()) {
            reply.onError(Status.INVALID_ARGUMENT.withDescription("route request without the relay's address")
                    .asRuntimeException());
            return;
        }
        reply.onNext(RouteReply.newBuilder().setParent(route(request.getVersion(), request.getRelay(),
                request.getFailedList())).build());
        reply.onCompleted();
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
        withdraw();
    }
}
