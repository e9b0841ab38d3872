package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** Relays on real gRPC sockets in one JVM (the tests module kills relay processes). */
class WeightRelayTest {
    static {
        Ranks.quietTransport();
    }

    private static final int CHUNK = 4096;
    private static final Duration TIMEOUT = Duration.ofSeconds(60);
    private static final Duration PATIENT = Duration.ofSeconds(30);

    private static WeightSnapshot randomSnapshot(long version, int floats) {
        ByteBuffer b = ByteBuffer.allocate(floats * 4).order(ByteOrder.LITTLE_ENDIAN);
        Random rng = new Random(version);
        for (int i = 0; i < floats; i++) {
            b.putFloat((float) rng.nextGaussian());
        }
        return WeightSnapshot.ofBytes(version, "w", b.flip());
    }

    private static String at(WeightPublisher p) {
        return "127.0.0.1:" + p.port();
    }

    private static CompletableFuture<WeightRelay.Fetched> fetchAsync(WeightRelay relay, long version) {
        return CompletableFuture.supplyAsync(() -> relay.fetch(version, TIMEOUT));
    }

    @Test
    void aChainOfRelaysDeliversEveryVersionAndThePublisherRoutesOneChild() {
        List<WeightRelay> relays = new ArrayList<>();
        try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, CHUNK)) {
            for (int i = 0; i < 4; i++) {
                relays.add(WeightRelay.on("127.0.0.1", at(root), GrpcTransport.PLAINTEXT, PATIENT));
            }
            for (long version = 1; version <= 2; version++) {
                WeightSnapshot published = randomSnapshot(version, 50_000);
                List<CompletableFuture<WeightRelay.Fetched>> fetches = new ArrayList<>();
                for (WeightRelay relay : relays) {
                    fetches.add(fetchAsync(relay, version));
                    SyncFixtures.waitUntil(() -> root.relays(published.version()).contains(relay.address()), TIMEOUT);
                }
                root.publish(published);
                for (CompletableFuture<WeightRelay.Fetched> f : fetches) {
                    WeightRelay.Fetched fetched = f.join();
                    assertTrue(fetched.snapshot().sameAs(published), "bit for bit, checksum verified");
                    assertEquals(published.crc32c(), fetched.snapshot().crc32c());
                    assertEquals(0, fetched.reroutes());
                }
                assertEquals(relays.stream().map(WeightRelay::address).toList(), root.relays(version),
                        "a chain in the order they asked");
                assertEquals(RelayTree.ROOT, root.route(version, relays.get(0).address(), List.of()));
                assertEquals(relays.get(0).address(), root.route(version, relays.get(1).address(), List.of()));
            }
        } finally {
            relays.forEach(WeightRelay::close);
        }
    }

    @Test
    void aStalledParentIsLeftForItsAncestorAndItsChildNeverNotices() {
        WeightSnapshot published = randomSnapshot(1, 100_000); // 98 chunks
        try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightPublisher stuck = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightRelay relay = WeightRelay.on("127.0.0.1", at(root), GrpcTransport.PLAINTEXT,
                        Duration.ofMillis(800));
                WeightRelay child = WeightRelay.on("127.0.0.1", at(root), GrpcTransport.PLAINTEXT, PATIENT)) {
            root.publish(published);
            stuck.serve(partly(published, 10)); // holds 10 chunks and never gets more
            assertEquals(RelayTree.ROOT, root.route(1, at(stuck), List.of()));
            CompletableFuture<WeightRelay.Fetched> fetch = fetchAsync(relay, 1);
            SyncFixtures.waitUntil(() -> root.relays(1).contains(relay.address()), TIMEOUT);
            WeightRelay.Fetched below = child.fetch(1, TIMEOUT);
            WeightRelay.Fetched fetched = fetch.join();
            assertTrue(fetched.snapshot().sameAs(published));
            assertEquals(1, fetched.reroutes(), "the stalled parent, then the root");
            assertTrue(below.snapshot().sameAs(published));
            assertEquals(0, below.reroutes(), "its parent resumed, so it kept its parent");
            assertEquals(List.of(at(stuck), relay.address(), child.address()), root.relays(1));
            assertEquals(RelayTree.ROOT, root.route(1, child.address(), List.of(relay.address())),
                    "the stalled one stays skipped");
        }
    }

    @Test
    void aParentThatGoesAwayMidTransferIsResumedFromTheRoot() throws Exception {
        WeightSnapshot published = randomSnapshot(1, 100_000);
        try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, CHUNK);
                WeightRelay relay = WeightRelay.on("127.0.0.1", at(root), GrpcTransport.PLAINTEXT, PATIENT)) {
            root.publish(published);
            WeightPublisher dying = new WeightPublisher("127.0.0.1", 0, CHUNK);
            dying.serve(partly(published, 30));
            root.route(1, at(dying), List.of());
            CompletableFuture<WeightRelay.Fetched> fetch = fetchAsync(relay, 1);
            SyncFixtures.waitUntil(() -> root.relays(1).contains(relay.address()), TIMEOUT);
            Thread.sleep(300);
            dying.close(); // cancels the stream it serves
            WeightRelay.Fetched fetched = fetch.join();
            assertTrue(fetched.snapshot().sameAs(published));
            assertEquals(1, fetched.reroutes());
        }
    }

    @Test
    void theRootGoingAwayFailsTheFetchAndTheRelayedCopy() throws Exception {
        WeightPublisher root = new WeightPublisher("127.0.0.1", 0, CHUNK);
        try (WeightRelay relay = WeightRelay.on("127.0.0.1", at(root), GrpcTransport.PLAINTEXT, PATIENT);
                WeightReceiver below = new WeightReceiver(relay.address(), CHUNK)) {
            root.serve(partly(randomSnapshot(1, 100_000), 5));
            CompletableFuture<WeightRelay.Fetched> fetch = fetchAsync(relay, 1);
            CompletableFuture<WeightSnapshot> downstream = CompletableFuture.supplyAsync(
                    () -> below.awaitVersion(1, TIMEOUT));
            SyncFixtures.waitUntil(() -> root.relays(1).contains(relay.address()), TIMEOUT);
            Thread.sleep(300);
            root.close();
            Exception e = assertThrows(Exception.class, fetch::join);
            assertTrue(e.getCause() instanceof CollectiveException, String.valueOf(e.getCause()));
            assertThrows(Exception.class, downstream::join, "the relayed copy fails too, no hang");
        }
    }

    /** A relayed snapshot that holds only its first {@code chunks} chunks. */
    private static WeightPublisher.Published partly(WeightSnapshot snapshot, int chunks) {
        WeightPublisher.Published whole = WeightPublisher.Published.of(snapshot, CHUNK);
        WeightPublisher.Published part = WeightPublisher.Published.relayed(whole.header(), snapshot.payload());
        for (int i = 0; i < chunks; i++) {
            CRC32C crc = new CRC32C();
            Segments payload = snapshot.payload();
            crc.update(payload.slice((long) i * CHUNK, (int) Math.min(CHUNK, payload.size() - (long) i * CHUNK)));
            part.arrived(i, (int) crc.getValue());
        }
        return part;
    }

}
