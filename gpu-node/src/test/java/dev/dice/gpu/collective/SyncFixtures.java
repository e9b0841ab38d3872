package dev.dice.gpu.collective;

import com.google.protobuf.ByteString;
import dev.dice.proto.collective.FetchRequest;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.WeightSyncGrpc;
import io.grpc.Server;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/** What the weight-sync tests share: a sender that damages a chunk in transit, and waiting for a condition. */
final class SyncFixtures {
    private SyncFixtures() {}

    /** A sender that flips one bit of chunk {@code bad} (its byte {@code at}) after computing its CRC32C. */
    static Server corruptingSender(WeightSnapshot snapshot, int chunkBytes, int bad, int at) throws IOException {
        WeightPublisher.Published p = WeightPublisher.Published.of(snapshot, chunkBytes);
        return NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).directExecutor()
                .addService(new WeightSyncGrpc.WeightSyncImplBase() {
                    @Override
                    public void fetch(FetchRequest request, StreamObserver<SnapshotFrame> out) {
                        out.onNext(SnapshotFrame.newBuilder().setHeader(p.header()).build());
                        for (int i = 0; i < p.header().getChunks(); i++) {
                            SnapshotFrame f = p.frame(i);
                            if (i == bad) {
                                byte[] data = f.getChunk().getData().toByteArray();
                                data[at] ^= 0x04;
                                f = f.toBuilder().setChunk(f.getChunk().toBuilder().setData(ByteString.copyFrom(data)))
                                        .build();
                            }
                            out.onNext(f);
                        }
                        out.onCompleted();
                    }
                }).build().start();
    }

    static void waitUntil(BooleanSupplier condition, Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new AssertionError("condition not met within " + timeout);
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
