package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.bench.ShapedLink;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightSnapshot;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The relayed weight sync between JVMs on real sockets: rank 0 (this JVM) publishes, generator nodes ({@link RelayNode},
 * each its own process) fetch through the relay chain, and one of them is SIGKILLed in the middle of a transfer.
 * Rank 0's uplink is a {@link ShapedLink}, which counts what rank 0 sends (and, in the kill case, slows it so that
 * the kill surely lands mid-transfer, however loaded the machine).
 */
class RelayedWeightSyncTest {
    private static final int MIB = 1 << 20;
    private static final long WAIT_S = 120;

    private final List<Node> nodes = new ArrayList<>();

    private record Node(Process process, BlockingQueue<String> lines, String address) {}

    @AfterEach
    void stopNodes() {
        nodes.forEach(n -> n.process().destroyForcibly());
    }

    @Test
    void everyGeneratorGetsEachVersionWhileRankZeroSendsItOnce() throws Exception {
        try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, WeightPublisher.DEFAULT_CHUNK_BYTES);
                ShapedLink uplink = new ShapedLink(root.port(), 0)) {
            for (int i = 0; i < 3; i++) {
                start(uplink, 2, 30_000);
            }
            for (long v = 1; v <= 2; v++) {
                long version = v;
                waitUntil(() -> root.relays(version).size() == nodes.size());
                WeightSnapshot published = snapshot(v, 8 * MIB);
                long before = uplink.bytesSent();
                root.publish(published);
                for (Node n : nodes) {
                    assertDone(n, published, 0);
                }
                long sent = uplink.bytesSent() - before;
                assertTrue(sent >= 8L * MIB && sent < 8.2 * MIB,
                        "rank 0 sent v" + v + " once, not once per generator: " + sent + " bytes");
            }
        }
    }

    @Test
    void aRelayNodeKilledMidTransferIsBypassedAndEveryOtherNodeGetsTheVersion() throws Exception {
        int bytes = 16 * MIB;
        try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, WeightPublisher.DEFAULT_CHUNK_BYTES);
                ShapedLink uplink = new ShapedLink(root.port(), 4 * MIB)) { // 4 s for the snapshot
            for (int i = 0; i < 3; i++) { // one at a time, so the chain is rank 0 -> first -> second -> third
                start(uplink, 1, 30_000);
                int joined = nodes.size();
                waitUntil(() -> root.relays(1).size() == joined);
            }
            assertEquals(nodes.stream().map(Node::address).toList(), root.relays(1));
            WeightSnapshot published = snapshot(1, bytes);
            root.publish(published);
            waitUntil(() -> uplink.bytesSent() >= bytes / 4);
            Node first = nodes.get(0);
            long sentAtKill = uplink.bytesSent();
            first.process().destroyForcibly(); // SIGKILL while it holds about a quarter and relays it on
            assertTrue(first.process().waitFor(WAIT_S, TimeUnit.SECONDS));
            assertEquals(137, first.process().exitValue(), "killed by SIGKILL");
            assertTrue(sentAtKill < bytes, "killed before rank 0 had sent the whole snapshot: " + sentAtKill);
            assertDone(nodes.get(1), published, 1); // its parent died: resumed from rank 0
            assertDone(nodes.get(2), published, 0); // its parent resumed: it never noticed
            assertTrue(uplink.bytesSent() < 1.5 * bytes,
                    "the second node resumed where it was instead of starting again: " + uplink.bytesSent());
        }
    }

    /** Starts a relay node (one more in {@link #nodes}) and waits until it serves. */
    private void start(ShapedLink rootLink, int versions, long stallMillis) throws IOException, InterruptedException {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                "-XX:+UseSerialGC", "-cp", classpath, RelayNode.class.getName(), "127.0.0.1:" + rootLink.port(),
                String.valueOf(versions), String.valueOf(stallMillis));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("RELAY ") || line.startsWith("DONE ")) {
                        lines.add(line);
                    }
                }
            } catch (IOException e) {
                // the process died: the test notices the missing line
            }
        });
        reader.setDaemon(true);
        reader.start();
        String relay = lines.poll(WAIT_S, TimeUnit.SECONDS);
        if (relay == null || !relay.startsWith("RELAY ")) {
            p.destroyForcibly();
            throw new AssertionError("a relay node did not start: " + relay);
        }
        nodes.add(new Node(p, lines, relay.substring("RELAY ".length())));
    }

    private static void assertDone(Node n, WeightSnapshot published, int reroutes) throws InterruptedException {
        String line = n.lines().poll(WAIT_S, TimeUnit.SECONDS);
        assertEquals(String.format("DONE %d %08x %s %d", published.version(), published.crc32c(),
                published.sha256Hex(), reroutes), line, "node " + n.address());
    }

    private static WeightSnapshot snapshot(long version, int bytes) {
        ByteBuffer b = ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
        Random rng = new Random(version);
        while (b.remaining() >= 4) {
            b.putFloat((float) rng.nextGaussian());
        }
        return WeightSnapshot.ofBytes(version, "w", b.flip());
    }

    private static void waitUntil(BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_S);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, "condition not met within " + WAIT_S + " s");
            Thread.sleep(10);
        }
    }
}
