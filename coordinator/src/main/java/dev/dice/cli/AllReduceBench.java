package dev.dice.cli;

import dev.dice.gpu.collective.RingAllReduce;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightReceiver;
import dev.dice.gpu.collective.WeightSnapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code dice bench allreduce}: R ranks in separate JVMs on loopback. Measures, in one run:
 * <ul>
 *   <li>tcp_gbps: one plain socket stream between two processes, the ceiling for anything over loopback;
 *   <li>algbw_gbps / busbw_gbps: ring all-reduce (mean) of M MiB fp32, nccl-tests definitions
 *       (algbw = bytes / time, busbw = algbw · 2(R−1)/R, the traffic each link actually carries);
 *   <li>broadcast_gbps: M MiB snapshot from rank 0 to the R−1 others, verified (CRC32C + SHA-256), divided
 *       by the time until the last receiver holds it.
 * </ul>
 * Units are GB/s (10^9 bytes per second), as in nccl-tests. Each figure is the median of the timed repeats,
 * after one warm-up. The phases run one after the other so they do not compete for cores.
 */
public final class AllReduceBench {
    private static final String RESULT = "RESULT ";
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    private AllReduceBench() {}

    /** Parent side: spawns the processes and collects the figures. */
    public static Map<String, Object> run(int ranks, int mb, int repeats) {
        if (ranks < 2 || mb < 1 || repeats < 1) {
            throw new IllegalArgumentException("allreduce bench needs --ranks >= 2, --mb >= 1, --repeats >= 1");
        }
        long bytes = (long) mb << 20;
        double tcp = tcpGbps(bytes, repeats);
        List<Integer> ports = freePorts(ranks + 1);
        List<String> members = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            members.add("127.0.0.1:" + ports.get(r));
        }
        List<Child> children = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            children.add(spawn("rank", String.valueOf(r), String.join(",", members), String.valueOf(mb),
                    String.valueOf(repeats), String.valueOf(ports.get(ranks))));
        }
        String rank0 = results(children, "allreduce ranks").get(0);
        double[] figures = Arrays.stream(rank0.trim().split(" ")).mapToDouble(Double::parseDouble).toArray();
        double allReduceSeconds = figures[0];
        double broadcastSeconds = figures[1];
        double algbw = bytes / allReduceSeconds / 1e9;
        double busbw = algbw * 2 * (ranks - 1) / ranks;
        double broadcast = bytes / broadcastSeconds / 1e9;
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ranks", ranks);
        out.put("mb", mb);
        out.put("repeats", repeats);
        out.put("units", "GB/s");
        out.put("allreduce_ms", round(allReduceSeconds * 1e3));
        out.put("broadcast_ms", round(broadcastSeconds * 1e3));
        out.put("algbw_gbps", round(algbw));
        out.put("busbw_gbps", round(busbw));
        out.put("tcp_gbps", round(tcp));
        out.put("broadcast_gbps", round(broadcast));
        out.put("busbw_over_tcp", round(busbw / tcp));
        out.put("broadcast_over_tcp", round(broadcast / tcp));
        out.put("cores", Runtime.getRuntime().availableProcessors());
        return out;
    }

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }

    /** Child processes: {@code rank <r> <members> <mb> <repeats> <publisherPort>} or {@code tcp-send <port> <mb> <n>}. */
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "rank" -> rank(Integer.parseInt(args[1]), List.of(args[2].split(",")), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), Integer.parseInt(args[5]));
            case "tcp-send" -> tcpSend(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        System.exit(0);
    }

    private static void rank(int rank, List<String> members, int mb, int repeats, int publisherPort) {
        int world = members.size();
        ByteBuffer data = ByteBuffer.allocateDirect(mb << 20).order(ByteOrder.nativeOrder());
        FloatBuffer floats = data.asFloatBuffer();
        for (int i = 0; i < floats.capacity(); i++) {
            floats.put(i, (i % 1000) * 0.001f + rank);
        }
        ByteBuffer flag = ByteBuffer.allocateDirect(4 * world).order(ByteOrder.nativeOrder());
        try (RingAllReduce ring = new RingAllReduce(members, rank, RingAllReduce.Settings.of(TIMEOUT))) {
            double[] reduce = new double[repeats];
            for (int i = -1; i < repeats; i++) { // i = -1: warm-up
                ring.allReduceMean(flag, 1); // barrier: nobody starts the clock before everyone is here
                long t0 = System.nanoTime();
                ring.allReduceMean(data, 0);
                if (i >= 0) {
                    reduce[i] = (System.nanoTime() - t0) / 1e9;
                }
            }
            double[] broadcast = new double[repeats];
            WeightPublisher publisher = rank == 0
                    ? new WeightPublisher("127.0.0.1", publisherPort, WeightPublisher.DEFAULT_CHUNK_BYTES) : null;
            try (WeightReceiver receiver = rank == 0 ? null
                    : new WeightReceiver("127.0.0.1:" + publisherPort, WeightPublisher.DEFAULT_CHUNK_BYTES)) {
                for (int i = -1; i < repeats; i++) {
                    long version = i + 2;
                    if (publisher != null) {
                        publisher.publish(WeightSnapshot.ofBytes(version, "bench", data)); // checksums: not timed
                    }
                    ring.allReduceMean(flag, 2); // barrier: published before anyone fetches
                    long t0 = System.nanoTime();
                    if (receiver != null) {
                        receiver.fetch(version, TIMEOUT);
                    }
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    // gather every receiver's time (slot r, scaled by R so the mean is the value) and keep the max
                    FloatBuffer times = flag.asFloatBuffer();
                    for (int r = 0; r < world; r++) {
                        times.put(r, r == rank ? (float) (seconds * world) : 0f);
                    }
                    ring.allReduceMean(flag, 3);
                    double slowest = 0;
                    for (int r = 0; r < world; r++) {
                        slowest = Math.max(slowest, times.get(r));
                    }
                    if (i >= 0) {
                        broadcast[i] = slowest;
                    }
                }
            } finally {
                if (publisher != null) {
                    publisher.close();
                }
            }
            System.out.println(RESULT + median(reduce) + " " + median(broadcast));
        }
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** Receives {@code repeats + 1} blocks of {@code bytes} from a child process over a plain socket. */
    private static double tcpGbps(long bytes, int repeats) {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            Child sender = spawn("tcp-send", String.valueOf(port), String.valueOf(bytes >> 20),
                    String.valueOf(repeats + 1));
            double[] seconds = new double[repeats];
            try (SocketChannel in = server.accept()) {
                ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
                for (int i = -1; i < repeats; i++) {
                    long t0 = System.nanoTime();
                    long left = bytes;
                    while (left > 0) {
                        buffer.clear().limit((int) Math.min(buffer.capacity(), left));
                        int n = in.read(buffer);
                        if (n < 0) {
                            throw new IOException("tcp sender closed early");
                        }
                        left -= n;
                    }
                    if (i >= 0) {
                        seconds[i] = (System.nanoTime() - t0) / 1e9;
                    }
                }
            }
            results(List.of(sender), "tcp sender");
            return bytes / median(seconds) / 1e9;
        } catch (IOException e) {
            throw new UncheckedIOException("tcp baseline", e);
        }
    }

    private static void tcpSend(int port, int mb, int blocks) throws IOException {
        try (SocketChannel out = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
            for (long i = 0, chunks = (long) blocks * mb; i < chunks; i++) {
                buffer.clear();
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            }
        }
        System.out.println(RESULT + "done");
    }

    /** A child JVM on the same classpath; its stdout goes to a file, so a chatty child can never block on a full pipe. */
    private record Child(Process process, Path stdout) {}

    private static Child spawn(String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:MaxDirectMemorySize=4g", "-cp", System.getProperty("java.class.path"),
                AllReduceBench.class.getName()));
        command.addAll(List.of(args));
        try {
            Path stdout = Files.createTempFile("dice-bench-", ".out");
            stdout.toFile().deleteOnExit();
            Process p = new ProcessBuilder(command).redirectOutput(stdout.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            return new Child(p, stdout);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    /**
     * Waits for every child and returns each one's RESULT line. If one fails, the others are stopped at once
     * (they would otherwise wait out their collective timeout).
     */
    private static List<String> results(List<Child> children, String what) {
        try {
            boolean running = true;
            while (running) {
                running = false;
                for (Child c : children) {
                    if (c.process().isAlive()) {
                        running = true;
                    } else if (c.process().exitValue() != 0) {
                        children.forEach(other -> other.process().destroyForcibly());
                        throw new IllegalStateException(what + ": a child exited with code " + c.process().exitValue()
                                + " (its error is above)");
                    }
                }
                Thread.sleep(20);
            }
            List<String> out = new ArrayList<>();
            for (Child c : children) {
                String result = null;
                for (String line : Files.readAllLines(c.stdout(), StandardCharsets.UTF_8)) {
                    if (line.startsWith(RESULT)) {
                        result = line.substring(RESULT.length());
                    }
                }
                if (result == null) {
                    throw new IllegalStateException(what + ": a child exited without a result");
                }
                out.add(result);
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            children.forEach(c -> c.process().destroyForcibly());
            throw new IllegalStateException(what + ": interrupted", e);
        }
    }

    private static List<Integer> freePorts(int n) {
        List<ServerSocket> held = new ArrayList<>();
        List<Integer> ports = new ArrayList<>();
        try {
            for (int i = 0; i < n; i++) {
                ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                held.add(s);
                ports.add(s.getLocalPort());
            }
            for (ServerSocket s : held) {
                s.close();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("no free ports", e);
        }
    }
}
