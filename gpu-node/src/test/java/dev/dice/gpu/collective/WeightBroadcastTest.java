package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.protobuf.ByteString;
import dev.dice.gpu.SafeTensors;
import dev.dice.proto.collective.SnapshotFrame;
import io.grpc.Server;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WeightBroadcastTest {
    static {
        Ranks.quietTransport();
    }

    private static final int CHUNK = 256;
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private static WeightSnapshot randomSnapshot(long version, int floats) {
        ByteBuffer b = ByteBuffer.allocate(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
        Random rng = new Random(version);
        for (int i = 0; i < floats; i++) {
            b.putFloat((float) rng.nextGaussian());
        }
        return WeightSnapshot.ofBytes(version, "w", b.flip());
    }

    @Test
    void namedTensorsRoundTripBitExactly(@TempDir Path dir) {
        try (NDManager m = NDManager.newBaseManager();
                WeightPublisher publisher = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightReceiver receiver = new WeightReceiver("127.0.0.1:" + publisher.port(), CHUNK)) {
            Map<String, NDArray> weights = new LinkedHashMap<>();
            weights.put("model.embed_tokens.weight", m.randomNormal(new Shape(33, 7)));
            weights.put("model.norm.weight", m.randomNormal(new Shape(7)));
            weights.put("scalar", m.create(new float[] {Float.MIN_VALUE}, new Shape(1)));
            WeightSnapshot published = WeightSnapshot.of(3, weights);
            assertEquals(published.sha256Hex(), WeightSnapshot.sha256Hex(weights), "hashed in place as in the copy");
            publisher.publish(published);

            WeightSnapshot got = receiver.fetch(3, TIMEOUT);
            assertEquals(3, receiver.version());
            assertSame(got, receiver.installed());
            Map<String, NDArray> back = got.toArrays(m);
            assertEquals(weights.keySet(), back.keySet());
            weights.forEach((name, w) -> {
                assertEquals(w.getShape(), back.get(name).getShape(), name);
                assertArrayEquals(w.toFloatArray(), back.get(name).toFloatArray(), 0f, name);
            });

            Path file = dir.resolve("model.safetensors");
            got.writeSafeTensors(file);
            Map<String, NDArray> fromDisk = SafeTensors.read(file, m);
            weights.forEach((name, w) -> assertArrayEquals(w.toFloatArray(), fromDisk.get(name).toFloatArray(), 0f));
        }
    }

    @Test
    void newerVersionsReplaceOlderOnesAndStaleRequestsAreRefused() {
        try (WeightPublisher publisher = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightReceiver receiver = new WeightReceiver("127.0.0.1:" + publisher.port(), CHUNK)) {
            WeightSnapshot v1 = randomSnapshot(1, 1001); // 4004 bytes: 16 chunks, the last one partial
            publisher.publish(v1);
            assertTrue(receiver.fetch(1, TIMEOUT).sameAs(v1));
            CollectiveException e = assertThrows(CollectiveException.class, () -> receiver.fetch(2, TIMEOUT));
            assertTrue(e.getMessage().contains("FAILED_PRECONDITION"), e.getMessage());
            assertEquals(1, receiver.version(), "a failed fetch keeps the installed version");
            WeightSnapshot v2 = randomSnapshot(2, 5);
            publisher.publish(v2);
            assertTrue(receiver.fetch(2, TIMEOUT).sameAs(v2));
            assertEquals(v2.sha256Hex(), receiver.installed().sha256Hex());
        }
    }
    @Test
    void aCorruptedChunkIsRejectedAndNothingIsInstalled() throws Exception {
        WeightSnapshot good = randomSnapshot(1, 1001);
        WeightSnapshot next = randomSnapshot(2, 1001);
        Server bad = SyncFixtures.corruptingSender(next, CHUNK, 2, 17);
        try (WeightPublisher publisher = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightReceiver fromGood = new WeightReceiver("127.0.0.1:" + publisher.port(), CHUNK);
                WeightReceiver fromBad = new WeightReceiver("127.0.0.1:" + bad.getPort(), CHUNK)) {
            publisher.publish(good);
            assertTrue(fromGood.fetch(1, TIMEOUT).sameAs(good));
            CorruptSnapshotException e = assertThrows(CorruptSnapshotException.class, () -> fromBad.fetch(2, TIMEOUT));
            assertTrue(e.getMessage().contains("chunk 2 of 16") && e.getMessage().contains("CRC32C"), e.getMessage());
            assertEquals(-1, fromBad.version());
            assertEquals(1, fromGood.version());
        } finally {
            bad.shutdownNow();
        }
    }

    @Test
    void aChainOfRelaysDeliversBitExactlyToReceiversThatWaitedForTheVersion() throws Exception {
        WeightSnapshot v5 = randomSnapshot(5, 10_001); // 157 chunks
        try (WeightPublisher origin = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightPublisher relay1 = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightPublisher relay2 = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightReceiver r1 = new WeightReceiver("127.0.0.1:" + origin.port(), CHUNK).relayThrough(relay1);
                WeightReceiver r2 = new WeightReceiver("127.0.0.1:" + relay1.port(), CHUNK).relayThrough(relay2);
                WeightReceiver r3 = new WeightReceiver("127.0.0.1:" + relay2.port(), CHUNK)) {
            // downstream first: each waits for its relay to start serving v5, and the relays for the origin
            var ranks = Ranks.run(3, i -> (i == 0 ? r3 : i == 1 ? r2 : r1).awaitVersion(5, TIMEOUT));
            Thread.sleep(200);
            origin.publish(v5);
            for (WeightSnapshot got : Ranks.all(ranks, 20)) {
                assertTrue(got.sameAs(v5));
            }
            assertEquals(v5.sha256Hex(), r3.installed().sha256Hex());
            assertEquals(5, relay2.version());
        }
    }

    @Test
    void aCorruptedChunkUpstreamFailsTheWholeChain() throws Exception {
        WeightSnapshot next = randomSnapshot(2, 1001);
        Server bad = SyncFixtures.corruptingSender(next, CHUNK, 5, 17);
        try (WeightPublisher relay = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightReceiver first = new WeightReceiver("127.0.0.1:" + bad.getPort(), CHUNK).relayThrough(relay);
                WeightReceiver second = new WeightReceiver("127.0.0.1:" + relay.port(), CHUNK)) {
            var downstream = Ranks.run(1, i -> second.awaitVersion(2, TIMEOUT)).get(0);
            assertThrows(CorruptSnapshotException.class, () -> first.fetch(2, TIMEOUT));
            var e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> downstream.get(20, java.util.concurrent.TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof CollectiveException, String.valueOf(e.getCause()));
            assertTrue(e.getCause().getMessage().contains("DATA_LOSS") || e.getCause().getMessage().contains("chunk"),
                    e.getCause().getMessage());
            assertEquals(-1, second.version());
        } finally {
            bad.shutdownNow();
        }
    }

    @Test
    void aWrongWholeSnapshotDigestIsRejected() {
        WeightSnapshot s = randomSnapshot(4, 100);
        WeightPublisher.Published p = WeightPublisher.Published.of(s, CHUNK);
        SnapshotAssembler assembler = new SnapshotAssembler("test");
        byte[] wrong = s.sha256();
        wrong[0] ^= 1;
        assembler.accept(SnapshotFrame.newBuilder().setHeader(p.header().toBuilder()
                .setSha256(ByteString.copyFrom(wrong))).build());
        for (int i = 0; i < p.header().getChunks(); i++) {
            assembler.accept(p.frame(i));
        }
        CorruptSnapshotException e = assertThrows(CorruptSnapshotException.class, assembler::finish);
        assertTrue(e.getMessage().contains("SHA-256"), e.getMessage());
        // the whole-payload CRC32C, which every sender sends
        SnapshotAssembler badCrc = new SnapshotAssembler("test");
        badCrc.accept(SnapshotFrame.newBuilder().setHeader(p.header().toBuilder()
                .setPayloadCrc32C(s.crc32c() ^ 1)).build());
        for (int i = 0; i < p.header().getChunks(); i++) {
            badCrc.accept(p.frame(i));
        }
        e = assertThrows(CorruptSnapshotException.class, badCrc::finish);
        assertTrue(e.getMessage().contains("CRC32C of the whole payload"), e.getMessage());
        // and a stream cut short is not a snapshot either
        SnapshotAssembler cut = new SnapshotAssembler("test");
        cut.accept(SnapshotFrame.newBuilder().setHeader(p.header()).build());
        cut.accept(p.frame(0));
        assertThrows(CollectiveException.class, cut::finish);
    }
}
