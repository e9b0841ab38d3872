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
 *       (algbw = bytes / time, busbw = algbw · 2(R−1)/R, the traffic each link actually carries); with
 *       {@code fp16} the values travel as fp16 and the figures still count the M MiB of fp32 reduced;
 *   <li>broadcast_gbps: an M MiB snapshot from rank 0 down the chain 1, 2, ..., R−1 (each rank relays every
 *       chunk once it verified it), CRC32C per chunk and over the whole; publishing (checksums) is timed, and
 *       the time runs until the last receiver has installed it.
 * </ul>
 * Units are GB/s (10^9 bytes per second), as in nccl-tests. Each figure is the median of the timed repeats,
 * after warm-up iterations that move at least 512 MiB (gRPC, Netty and the reduction reach their compiled
 * steady state only after a few hundred MB). The phases run one after the other so they do not compete for
 * cores; the machine's load average is reported beside the figures, since every rank shares the same cores.
 */
public final class AllReduceBench {
    private static final String RESULT = "RESULT ";
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    private AllReduceBench() {}

    /** Warm-up iterations: enough to move 512 MiB, at least 3. */
    static int warmups(int mb) {
        return Math.max(3, (512 + mb - 1) / mb);
    }

    /** Parent side: spawns the processes and collects the figures. */
    public static Map<String, Object> run(int ranks, int mb, int repeats, boolean fp16) {
        if (ranks < 2 || mb < 1 || repeats < 1) {
            throw new IllegalArgumentException("allreduce bench needs --ranks >= 2, --mb >= 1, --repeats >= 1");
        }
        long bytes = (long) mb << 20;
        double loadBefore = loadAverage();
        double tcp = tcpGbps(bytes, repeats);
        List<Integer> ports = freePorts(2 * ranks);
        List<String> members = new ArrayList<>();
        List<String> publishers = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            members.add("127.0.0.1:" + ports.get(r));
            publishers.add(String.valueOf(ports.get(ranks + r)));
        }
        List<Child> children = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            children.add(spawn("rank", String.valueOf(r), String.join(",", members), String.valueOf(mb),
                    String.valueOf(repeats), String.join(",", publishers), fp16 ? "fp16" : "fp32"));
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
        out.put("warmups", warmups(mb));
        out.put("precision", fp16 ? "fp16" : "fp32");
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
        out.put("load_avg_1m_before", loadBefore);
        out.put("load_avg_1m_after", loadAverage());
        return out;
    }

    /** The 1-minute load average (/proc/loadavg), or -1 where there is none. */
    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }

    /**
     * Child processes: {@code rank <r> <members> <mb> <repeats> <publisherPorts> <fp32|fp16>} or
     * {@code tcp-send <port> <mb> <n>}.
     */
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "rank" -> rank(Integer.parseInt(args[1]), List.of(args[2].split(",")), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), List.of(args[5].split(",")),
                    args[6].equals("fp16") ? RingAllReduce.Precision.FP16 : RingAllReduce.Precision.FP32);
            case "tcp-send" -> tcpSend(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        System.exit(0);
    }

    private static void rank(int rank, List<String> members, int mb, int repeats, List<String> publisherPorts,
            RingAllReduce.Precision precision) {
        int world = members.size();
        ByteBuffer data = ByteBuffer.allocateDirect(mb << 20).order(ByteOrder.nativeOrder());
        FloatBuffer floats = data.asFloatBuffer();
        for (int i = 0; i < floats.capacity(); i++) {
            floats.put(i, (i % 1000) * 0.001f + rank);
        }
        ByteBuffer flag = ByteBuffer.allocateDirect(4 * world).order(ByteOrder.nativeOrder());
        int warmups = warmups(mb);
        try (RingAllReduce ring = new RingAllReduce(members, rank, RingAllReduce.Settings.of(TIMEOUT))) {
            double[] reduce = new double[repeats];
            for (int i = -warmups; i < repeats; i++) {
                ring.allReduceMean(flag, 1); // barrier: nobody starts the clock before everyone is here
                long t0 = System.nanoTime();
                ring.allReduceMean(data, 0, precision);
                if (i >= 0) {
                    reduce[i] = (System.nanoTime() - t0) / 1e9;
                }
            }
            double[] broadcast = new double[repeats];
            // the chain: rank 0 publishes, rank r fetches from rank r-1 and relays to rank r+1
            WeightPublisher publisher = rank < world - 1
                    ? new WeightPublisher("127.0.0.1", Integer.parseInt(publisherPorts.get(rank)),
                            WeightPublisher.DEFAULT_CHUNK_BYTES) : null;
            WeightReceiver receiver = rank == 0 ? null : new WeightReceiver("127.0.0.1:" + publisherPorts.get(rank - 1),
                    WeightPublisher.DEFAULT_CHUNK_BYTES);
            if (receiver != null && publisher != null) {
                receiver.relayThrough(publisher);
            }
            try {
                for (int i = -warmups(mb); i < repeats; i++) {
                    long version = i + warmups + 1;
                    WeightSnapshot snapshot = rank == 0 ? WeightSnapshot.ofBytes(version, "bench", data) : null;
                    ring.allReduceMean(flag, 2); // barrier: everyone starts the clock together
                    long t0 = System.nanoTime();
                    if (rank == 0) {
                        publisher.publish(snapshot);
                    } else {
                        receiver.awaitVersion(version, TIMEOUT);
                    }
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    // gather every rank's time (slot r, scaled by R so the mean is the value) and keep the max
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
                if (receiver != null) {
                    receiver.close();
                }
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

    private static final int TCP_WARMUPS = 3;

    /** Receives {@code repeats + TCP_WARMUPS} blocks of {@code bytes} from a child process over a plain socket. */
    private static double tcpGbps(long bytes, int repeats) {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            Child sender = spawn("tcp-send", String.valueOf(port), String.valueOf(bytes >> 20),
                    String.valueOf(repeats + TCP_WARMUPS));
            double[] seconds = new double[repeats];
            try (SocketChannel in = server.accept()) {
                ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
                for (int i = -TCP_WARMUPS; i < repeats; i++) {
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
