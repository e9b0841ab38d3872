package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.grpc.Server;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Snapshots cut into many segments (the segment size made small, so a few megabytes stand for a model of tens of
 * gigabytes) through a real publisher, a chain of relays and a receiver on gRPC sockets.
 */
class SegmentedWeightSyncTest {
    static {
        Ranks.quietTransport();
    }

    private static final int SEGMENT = 64 << 10;
    private static final int CHUNK = 4096;
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @BeforeEach
    void smallSegments() {
        Segments.segmentLimit = SEGMENT;
    }

    @AfterEach
    void restoreSegments() {
        Segments.segmentLimit = Segments.MAX_SEGMENT_BYTES;
    }

    /** About 3 MB in tensors that start and end mid-segment and span several segments. */
    private static Map<String, NDArray> weights(NDManager m) {
        Map<String, NDArray> w = new LinkedHashMap<>();
        w.put("model.embed_tokens.weight", m.randomNormal(new Shape(301, 1000)));
        w.put("model.norm.weight", m.randomNormal(new Shape(1000)));
        w.put("model.layers.0.mlp.up_proj.weight", m.randomNormal(new Shape(437, 997)));
        w.put("lm_head.weight", m.randomNormal(new Shape(3)));
        return w;
    }

    @Test
    void aMultiSegmentSnapshotCrossesPublisherRelaysAndReceiverVerifiedAndBitExact() {
        try (NDManager m = NDManager.newBaseManager();
                WeightPublisher root = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightRelay first = WeightRelay.on("127.0.0.1", "127.0.0.1:" + root.port(), GrpcTransport.PLAINTEXT,
                        TIMEOUT);
                WeightRelay second = WeightRelay.on("127.0.0.1", "127.0.0.1:" + root.port(), GrpcTransport.PLAINTEXT,
                        TIMEOUT);
                WeightReceiver below = new WeightReceiver(second.address(), WeightPublisher.DEFAULT_CHUNK_BYTES)) {
            Map<String, NDArray> weights = weights(m);
            WeightSnapshot published = WeightSnapshot.of(7, weights);
            assertTrue(published.payload().segmentCount() >= 40, published.toString());
            assertEquals(WeightSnapshot.sha256Hex(weights), published.sha256Hex(), "hashed in place as in the copy");

            CompletableFuture<WeightRelay.Fetched> one = CompletableFuture.supplyAsync(() -> first.fetch(7, TIMEOUT));
            SyncFixtures.waitUntil(() -> root.relays(7).contains(first.address()), TIMEOUT);
            CompletableFuture<WeightRelay.Fetched> two = CompletableFuture.supplyAsync(() -> second.fetch(7, TIMEOUT));
            SyncFixtures.waitUntil(() -> root.relays(7).contains(second.address()), TIMEOUT);
            root.publish(published);
            WeightSnapshot relayed = two.join().snapshot();
            assertEquals(List.of(first.address(), second.address()), root.relays(7), "a chain: root, first, second");
            WeightSnapshot received = below.fetch(7, TIMEOUT);

            for (WeightSnapshot got : List.of(one.join().snapshot(), relayed, received)) {
                assertTrue(got.payload().segmentCount() > 1, got.toString());
                assertTrue(got.sameAs(published), got + " vs " + published);
                assertEquals(published.crc32c(), got.crc32c());
                assertEquals(published.sha256Hex(), got.sha256Hex());
            }
            Map<String, NDArray> back = received.toArrays(m);
            assertEquals(weights.keySet(), back.keySet());
            weights.forEach((name, w) -> {
                assertEquals(w.getShape(), back.get(name).getShape(), name);
                assertArrayEquals(w.toFloatArray(), back.get(name).toFloatArray(), 0f, name);
            });
            back.values().iterator().next().addi(1f);
            assertTrue(received.sameAs(published), "the arrays are copies: updating one leaves the snapshot as it was");
        }
    }

    @Test
    void aCorruptedChunkInALaterSegmentIsRefusedAndNothingIsInstalled() throws Exception {
        try (NDManager m = NDManager.newBaseManager()) {
            WeightSnapshot snapshot = WeightSnapshot.of(2, weights(m));
            WeightPublisher.Published p = WeightPublisher.Published.of(snapshot, CHUNK);
            int bad = p.header().getChunks() - 20; // in one of the last segments
            Server sender = SyncFixtures.corruptingSender(snapshot, CHUNK, bad, 1234);
            try (WeightReceiver receiver = new WeightReceiver("127.0.0.1:" + sender.getPort(), CHUNK)) {
                CorruptSnapshotException e = assertThrows(CorruptSnapshotException.class,
                        () -> receiver.fetch(2, TIMEOUT));
                assertTrue(e.getMessage().contains("chunk " + bad + " of " + p.header().getChunks())
                        && e.getMessage().contains("CRC32C"), e.getMessage());
                assertEquals(-1, receiver.version(), "nothing installed");
            } finally {
                sender.shutdownNow();
            }
        }
    }

    @Test
    void aReleasedSnapshotIsServedWhilePublishedAndFreedOnceReplaced() {
        try (WeightPublisher publisher = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightReceiver receiver = new WeightReceiver("127.0.0.1:" + publisher.port(), CHUNK)) {
            WeightSnapshot v1 = WeightSnapshot.ofBytes(1, "w", java.nio.ByteBuffer.allocate(300_000));
            int crc = v1.crc32c();
            publisher.publish(v1);
            v1.release(); // the owner is done with it; the publisher still holds it
            assertEquals(crc, receiver.fetch(1, TIMEOUT).crc32c());
            publisher.publish(WeightSnapshot.ofBytes(2, "w", java.nio.ByteBuffer.allocate(300_000)));
            assertThrows(IllegalStateException.class, () -> v1.toArrays(null), "freed once v2 replaced it");
            assertEquals(2, receiver.fetch(2, TIMEOUT).version());
        }
    }

    @Test
    void aChunkSizeThatWouldStraddleSegmentsIsRefused() {
        WeightSnapshot snapshot = WeightSnapshot.ofBytes(1, "w", java.nio.ByteBuffer.allocate(200_000));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> WeightPublisher.Published.of(snapshot, 3000));
        assertTrue(e.getMessage().contains("do not divide"), e.getMessage());
    }

}
