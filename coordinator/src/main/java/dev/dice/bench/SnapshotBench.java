package dev.dice.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightReceiver;
import dev.dice.gpu.collective.WeightRelay;
import dev.dice.gpu.collective.WeightSnapshot;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@code dice bench snapshot}: one model of M MiB (default 2304: past the 2 GiB a single Java buffer holds), in tensors
 * of 96 MiB, copied into a snapshot, published, fetched by a relay and from the relay by a receiver, on loopback gRPC
 * in this JVM; each copy verified bit for bit and by SHA-256, then every copy released. Fields: seconds of each step,
 * the snapshot's segments, and the direct memory in use at the peak and after the release (what the heap never sees).
 */
public final class SnapshotBench {
    private static final int TENSOR_FLOATS = 24 << 20; // 96 MiB
    private static final Duration TIMEOUT = Duration.ofMinutes(30);

    private SnapshotBench() {}

    public static Map<String, Object> run(int mb) {
        if (mb < 1) {
            throw new IllegalArgumentException("snapshot bench needs --mb >= 1");
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("mb", mb);
        long floats = (long) mb << 18;
        WeightSnapshot published;
        long start = System.nanoTime();
        try (NDManager weights = NDManager.newBaseManager()) {
            Map<String, NDArray> tensors = new LinkedHashMap<>();
            for (long at = 0; at < floats; at += TENSOR_FLOATS) {
                long n = Math.min(TENSOR_FLOATS, floats - at);
                tensors.put("layers." + tensors.size() + ".weight", weights.randomUniform(-1f, 1f, new Shape(n)));
            }
            start = System.nanoTime();
            published = WeightSnapshot.of(1, tensors);
            result.put("copy_s", seconds(start));
            start = System.nanoTime();
            String sha256 = published.sha256Hex();
            result.put("sha256_s", seconds(start));
            result.put("sha256_matches_tensors", WeightSnapshot.sha256Hex(tensors).equals(sha256));
        }
        result.put("bytes", published.bytes());
        result.put("segments", published.segments());
        try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, WeightPublisher.DEFAULT_CHUNK_BYTES);
                WeightRelay relay = WeightRelay.on("127.0.0.1", "127.0.0.1:" + root.port(), GrpcTransport.PLAINTEXT,
                        Duration.ofSeconds(60));
                WeightReceiver receiver = new WeightReceiver(relay.address(), WeightPublisher.DEFAULT_CHUNK_BYTES)) {
            start = System.nanoTime();
            root.publish(published);
            result.put("publish_s", seconds(start));
            start = System.nanoTime();
            WeightSnapshot relayed = relay.fetch(1, TIMEOUT).snapshot();
            result.put("relay_fetch_s", seconds(start));
            start = System.nanoTime();
            WeightSnapshot received = receiver.fetch(1, TIMEOUT);
            double fetch = seconds(start);
            result.put("receiver_fetch_s", fetch);
            result.put("receiver_gbps", Figures.round(published.bytes() * 8 / fetch / 1e9));
            result.put("direct_mb_peak", directBytes() >> 20);
            result.put("bit_exact", relayed.sameAs(published) && received.sameAs(published)
                    && received.sha256Hex().equals(published.sha256Hex()));
            published.release();
            relayed.release();
            received.release();
        }
        result.put("direct_mb_after_release", directBytes() >> 20);
        return result;
    }

    private static double seconds(long since) {
        return Figures.round((System.nanoTime() - since) / 1e9);
    }

    private static long directBytes() {
        return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
                .filter(p -> p.getName().equals("direct")).mapToLong(BufferPoolMXBean::getMemoryUsed).sum();
    }
}
