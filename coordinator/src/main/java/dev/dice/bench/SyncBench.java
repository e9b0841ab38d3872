package dev.dice.bench;

import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightReceiver;
import dev.dice.gpu.collective.WeightRelay;
import dev.dice.gpu.collective.WeightSnapshot;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * {@code dice bench sync}: rank 0 (this JVM) publishes an M MiB snapshot to G generator JVMs (G = 1, 2, 4), each
 * version through the relay (rank 0 sends it once, down a chain of the generators) or, alternating with it, as every
 * generator fetches it from rank 0 directly. Every node's uplink is a {@link ShapedLink} of the given rate (loopback
 * has none). A figure is the time from publishing (checksums included) until the last generator installed the
 * verified version, the median of the repeats after one warm-up version per way.
 */
public final class SyncBench {
    private static final Duration TIMEOUT = Duration.ofSeconds(300);
    private static final Duration STALL = Duration.ofSeconds(30);
    private static final int[] GENERATORS = {1, 2, 4};

    private SyncBench() {}

    /** Rank 0's side: spawns the generators for each G and collects the figures. */
    public static Map<String, Object> run(int mb, int repeats, int linkMbit) {
        if (mb < 1 || repeats < 1 || linkMbit < 0) {
            throw new IllegalArgumentException("sync bench needs --mb >= 1, --repeats >= 1, --link-mbit >= 0");
        }
        long rate = linkMbit * 1_000_000L / 8;
        ByteBuffer weights = ByteBuffer.allocate(mb << 20).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; weights.remaining() >= 4; i++) {
            weights.putFloat((i % 1000) * 0.001f);
        }
        weights.flip();
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("mb", mb);
        result.put("link_mbit", linkMbit);
        result.put("repeats", repeats);
        result.put("load_before", Figures.round(loadAverage()));
        Map<Integer, double[]> relayed = new LinkedHashMap<>();
        Map<Integer, double[]> direct = new LinkedHashMap<>();
        for (int g : GENERATORS) {
            double[][] times = new double[2][repeats];
            long[] rootBytes = new long[2];
            try (WeightPublisher root = new WeightPublisher("127.0.0.1", 0, WeightPublisher.DEFAULT_CHUNK_BYTES);
                    ShapedLink uplink = new ShapedLink(root.port(), rate);
                    Generators generators = new Generators(g, "127.0.0.1:" + uplink.port(), linkMbit,
                            2 * (repeats + 1), mb)) {
                for (long v = 1; v <= 2L * (repeats + 1); v++) {
                    boolean relay = v % 2 == 1;
                    generators.awaitAll("READY " + v);
                    if (relay) {
                        long version = v;
                        waitUntil(() -> root.relays(version).size() == g);
                    } else {
                        Thread.sleep(100); // their fetches reach rank 0 and wait for the version
                    }
                    WeightSnapshot snapshot = WeightSnapshot.ofBytes(v, "bench", weights);
                    long sentBefore = uplink.bytesSent();
                    long start = System.nanoTime();
                    root.publish(snapshot);
                    generators.awaitAll(String.format("DONE %d %08x", v, snapshot.crc32c()));
                    double seconds = (System.nanoTime() - start) / 1e9;
                    int way = relay ? 0 : 1;
                    if (v > 2) {
                        times[way][(int) (v - 3) / 2] = seconds;
                    }
                    rootBytes[way] = uplink.bytesSent() - sentBefore;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("sync bench interrupted", e);
            }
            relayed.put(g, times[0]);
            direct.put(g, times[1]);
            result.put("root_mb_sent_relay_" + g, Figures.round(rootBytes[0] / (double) (1 << 20)));
            result.put("root_mb_sent_direct_" + g, Figures.round(rootBytes[1] / (double) (1 << 20)));
        }
        relayed.forEach((g, t) -> result.put("sync_s_" + g, Figures.round(Figures.median(t))));
        direct.forEach((g, t) -> result.put("direct_s_" + g, Figures.round(Figures.median(t))));
        result.put("relay_4_over_1", Figures.round(Figures.median(relayed.get(4)) / Figures.median(relayed.get(1))));
        result.put("direct_4_over_1", Figures.round(Figures.median(direct.get(4)) / Figures.median(direct.get(1))));
        result.put("load_after", Figures.round(loadAverage()));
        return result;
    }

    /**
     * A generator JVM: {@code generator <rank 0 "host:port"> <link Mbit/s> <versions>}. Serves what it relays behind
     * its own shaped uplink; odd versions through the relay, even ones straight from rank 0.
     */
    public static void main(String[] args) throws Exception {
        String root = args[1];
        long rate = Integer.parseInt(args[2]) * 1_000_000L / 8;
        int versions = Integer.parseInt(args[3]);
        try (WeightPublisher served = new WeightPublisher("127.0.0.1", 0, WeightPublisher.DEFAULT_CHUNK_BYTES);
                ShapedLink uplink = new ShapedLink(served.port(), rate);
                WeightRelay relay = new WeightRelay(root, served, "127.0.0.1:" + uplink.port(),
                        GrpcTransport.PLAINTEXT, STALL);
                WeightReceiver direct = new WeightReceiver(root, WeightPublisher.DEFAULT_CHUNK_BYTES)) {
            for (long v = 1; v <= versions; v++) {
                System.out.println("READY " + v);
                WeightSnapshot got = v % 2 == 1 ? relay.fetch(v, TIMEOUT).snapshot() : direct.awaitVersion(v, TIMEOUT);
                System.out.println(String.format("DONE %d %08x", got.version(), got.crc32c()));
            }
        }
        System.exit(0);
    }

    /** G generator JVMs on this classpath and the lines they print, read as they come. */
    private static final class Generators implements AutoCloseable {
        private final List<Process> processes = new ArrayList<>();
        private final List<BlockingQueue<String>> lines = new ArrayList<>();

        /** Each generator's snapshots live off its heap: room for a few copies of the {@code mb} MiB model. */
        Generators(int count, String root, int linkMbit, int versions, int mb) {
            for (int i = 0; i < count; i++) {
                List<String> command = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xmx1g", "-XX:MaxDirectMemorySize=" + (4L * mb + 512) + "m", "-cp", System.getProperty("java.class.path"), SyncBench.class.getName(), "generator",
                        root, String.valueOf(linkMbit), String.valueOf(versions));
                try {
                    Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
                    BlockingQueue<String> queue = new LinkedBlockingQueue<>();
                    Thread reader = new Thread(() -> read(p, queue), "sync-bench-generator-" + i);
                    reader.setDaemon(true);
                    reader.start();
                    processes.add(p);
                    lines.add(queue);
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot start " + command, e);
                }
            }
        }

        private static void read(Process p, BlockingQueue<String> queue) {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    if (line.startsWith("READY ") || line.startsWith("DONE ")) { // not a library's log line
                        queue.add(line);
                    }
                }
            } catch (IOException e) {
                // the process is gone: awaitAll notices
            }
            queue.add("EXIT");
        }

        /** Waits until every generator has printed {@code expected}; any other line is a failure. */
        void awaitAll(String expected) throws InterruptedException {
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).poll(TIMEOUT.toSeconds(), TimeUnit.SECONDS);
                if (!expected.equals(line)) {
                    throw new IllegalStateException("sync bench: generator " + (i + 1) + " said " + line
                            + " instead of " + expected + " (its error is above)");
                }
            }
        }

        @Override
        public void close() {
            processes.forEach(Process::destroyForcibly);
        }
    }

    private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TIMEOUT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > end) {
                throw new IllegalStateException("sync bench: the generators did not ask rank 0 for a route");
            }
            Thread.sleep(5);
        }
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }
}
