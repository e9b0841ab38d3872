package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.dice.gpu.collective.FreePorts;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The bench's plain-socket reference ring computes what the gRPC ring does: the element-wise mean. */
class SocketRingTest {

    @Test
    void threeRanksAverageASizeNotDivisibleByThree() throws Exception {
        int ranks = 3;
        int n = 600_001; // 200,000-float segments, each one full 1 MiB chunk and a partial one
        List<InetSocketAddress> members = FreePorts.on(InetAddress.getLoopbackAddress(), ranks).stream()
                .map(port -> new InetSocketAddress("127.0.0.1", port)).toList();
        List<ByteBuffer> buffers = new ArrayList<>();
        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            int rank = r;
            ByteBuffer data = ByteBuffer.allocateDirect(4 * n).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                data.putFloat(4 * i, value(rank, i));
            }
            buffers.add(data);
            done.add(CompletableFuture.runAsync(() -> {
                try (SocketRing ring = new SocketRing(members, rank)) {
                    ring.allReduceMean(data);
                    ring.allReduceMean(data); // the mean of equal buffers: unchanged, and the ring is reusable
                }
            }, runnable -> new Thread(runnable, "rank-" + rank).start()));
        }
        CompletableFuture.allOf(done.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        for (int i = 0; i < n; i++) {
            float expected = (value(0, i) + value(1, i) + value(2, i)) / 3;
            for (int r = 0; r < ranks; r++) {
                assertEquals(expected, buffers.get(r).getFloat(4 * i), 1e-5f, "rank " + r + " element " + i);
            }
            for (int r = 1; r < ranks; r++) { // the owner's finished segment is gathered unchanged: identical bits
                assertEquals(buffers.get(0).getFloat(4 * i), buffers.get(r).getFloat(4 * i), 0f, "rank " + r + " at " + i);
            }
        }
    }

    private static float value(int rank, int i) {
        return (i % 997) * 0.01f + rank * 1.5f - (i % 3 == rank ? 7 : 0);
    }
}
