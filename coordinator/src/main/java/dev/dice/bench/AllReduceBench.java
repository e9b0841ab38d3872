package dev.dice.bench;

import dev.dice.gpu.collective.Collective;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.gpu.collective.RingAllReduce;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightReceiver;
import dev.dice.gpu.collective.WeightSnapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
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
 *   <li>socket_ring_*: the same ring algorithm over plain blocking sockets ({@link SocketRing}: no gRPC, no
 *       headers, no checksums), in the same processes — what the ring itself can reach on this machine;
 *   <li>broadcast_gbps: an M MiB snapshot from rank 0 down the chain 1, 2, ..., R−1 (each rank relays every
 *       chunk once it verified it), CRC32C per chunk and over the whole; publishing (checksums) is timed, and
 *       the time runs until the last receiver has installed it.
 * </ul>
 * Units are GB/s (10^9 bytes per second), as in nccl-tests. Each figure is the median of the timed repeats,
 * after warm-up iterations that run until the times stop improving (see {@link Timer}). The phases run one
 * after the other so they do not compete for cores; the machine's load average is reported beside the
 * figures, since every rank shares the same cores.
 */
public final class AllReduceBench {
    private static final String RESULT = "RESULT ";
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    private AllReduceBench() {}

    /** The fewest warm-up iterations: enough to move 512 MiB, at least 3. */
    static int warmups(int mb) {
        return Math.max(3, (512 + mb - 1) / mb);
    }

    /**
     * Whether the JIT compiled for more than 5 % of the wall time of the last three iterations, from {wall ns, JIT
     * ms} taken after each iteration (too few iterations to tell count as compiling).
     */
    static boolean compiling(List<long[]> clocks) {
        int n = clocks.size();
        if (n < 4) {
            return true;
        }
        double wallMillis = (clocks.get(n - 1)[0] - clocks.get(n - 4)[0]) / 1e6;
        return clocks.get(n - 1)[1] - clocks.get(n - 4)[1] > 0.05 * wallMillis;
    }

    /** Parent side: spawns the processes and collects the figures. */
    public static Map<String, Object> run(int ranks, int mb, int repeats, boolean fp16) {
        if (ranks < 2 || mb < 1 || repeats < 1) {
            throw new IllegalArgumentException("allreduce bench needs --ranks >= 2, --mb >= 1, --repeats >= 1");
        }
        long bytes = (long) mb << 20;
        double loadBefore = loadAverage();
        double[] tcpFigures = tcp(bytes, repeats);
        double tcp = tcpFigures[0];
        List<Integer> ports = FreePorts.on(InetAddress.getLoopbackAddress(), 3 * ranks);
        List<String> members = new ArrayList<>();
        List<String> publishers = new ArrayList<>();
        List<String> socketRing = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            members.add("127.0.0.1:" + ports.get(r));
            publishers.add(String.valueOf(ports.get(ranks + r)));
            socketRing.add(String.valueOf(ports.get(2 * ranks + r)));
        }
        List<ChildProcess> children = new ArrayList<>();
        for (int r = 0; r < ranks; r++) {
            children.add(spawn("rank", String.valueOf(r), String.join(",", members), String.valueOf(mb),
                    String.valueOf(repeats), String.join(",", publishers), fp16 ? "fp16" : "fp32",
                    String.join(",", socketRing)));
        }
        List<double[]> perRank = ChildProcess.results(children, RESULT, "allreduce ranks").stream()
                .map(line -> Arrays.stream(line.trim().split(" ")).mapToDouble(Double::parseDouble).toArray()).toList();
        double[] figures = perRank.get(0);
        int reduceWarmups = (int) figures[2];
        int broadcastWarmups = (int) figures[3];
        double reduceCpu = perRank.stream().mapToDouble(f -> f[4]).sum();
        double broadcastCpu = perRank.stream().mapToDouble(f -> f[5]).sum();
        double socketCpu = perRank.stream().mapToDouble(f -> f[8]).sum();
        double socketSeconds = figures[6];
        double socketAlgbw = bytes / socketSeconds / 1e9;
        double socketBusbw = socketAlgbw * 2 * (ranks - 1) / ranks;
        double allReduceSeconds = figures[0];
        double broadcastSeconds = figures[1];
        double algbw = bytes / allReduceSeconds / 1e9;
        double busbw = algbw * 2 * (ranks - 1) / ranks;
        double broadcast = bytes / broadcastSeconds / 1e9;
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ranks", ranks);
        out.put("mb", mb);
        out.put("repeats", repeats);
        out.put("warmups_allreduce", reduceWarmups);
        out.put("warmups_broadcast", broadcastWarmups);
        out.put("warmups_socket_ring", (int) figures[7]);
        out.put("precision", fp16 ? "fp16" : "fp32");
        out.put("units", "GB/s");
        out.put("allreduce_ms", Figures.round(allReduceSeconds * 1e3));
        out.put("broadcast_ms", Figures.round(broadcastSeconds * 1e3));
        out.put("algbw_gbps", Figures.round(algbw));
        out.put("busbw_gbps", Figures.round(busbw));
        out.put("tcp_gbps", Figures.round(tcp));
        out.put("broadcast_gbps", Figures.round(broadcast));
        out.put("busbw_over_tcp", Figures.round(busbw / tcp));
        out.put("broadcast_over_tcp", Figures.round(broadcast / tcp));
        // the reference: the same ring over plain sockets, always fp32
        out.put("socket_ring_ms", Figures.round(socketSeconds * 1e3));
        out.put("socket_ring_algbw_gbps", Figures.round(socketAlgbw));
        out.put("socket_ring_busbw_gbps", Figures.round(socketBusbw));
        out.put("socket_ring_busbw_over_tcp", Figures.round(socketBusbw / tcp));
        // CPU seconds of every process involved, per MiB moved through the operation: what the figures would be
        // limited by on an idle machine, whatever the load was during the run
        out.put("allreduce_cpu_ms_per_mb", Figures.round(reduceCpu * 1e3 / repeats / mb));
        out.put("broadcast_cpu_ms_per_mb", Figures.round(broadcastCpu * 1e3 / repeats / mb));
        out.put("socket_ring_cpu_ms_per_mb", Figures.round(socketCpu * 1e3 / repeats / mb));
        out.put("tcp_cpu_ms_per_mb", Figures.round(tcpFigures[1]));
        out.put("cores", Runtime.getRuntime().availableProcessors());
        out.put("load_avg_1m_before", loadBefore);
        out.put("load_avg_1m_after", loadAverage());
        return out;
    }

    /** The 1-minute load average (/proc/loadavg), or -1 where there is none. */
    static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * Child processes: {@code rank <r> <members> <mb> <repeats> <publisherPorts> <fp32|fp16> <socketRingPorts>} or
     * {@code tcp-send <port> <mb> <n>}.
     */
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "rank" -> rank(Integer.parseInt(args[1]), List.of(args[2].split(",")), Integer.parseInt(args[3]),
                    Integer.parseInt(args[4]), List.of(args[5].split(",")),
                    args[6].equals("fp16") ? Collective.Precision.FP16 : Collective.Precision.FP32,
                    List.of(args[7].split(",")));
            case "tcp-send" -> tcpSend(Integer.parseInt(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
        System.exit(0);
    }

    private static void rank(int rank, List<String> members, int mb, int repeats, List<String> publisherPorts,
            Collective.Precision precision, List<String> socketRingPorts) {
        int world = members.size();
        ByteBuffer data = ByteBuffer.allocateDirect(mb << 20).order(ByteOrder.nativeOrder());
        FloatBuffer floats = data.asFloatBuffer();
        for (int i = 0; i < floats.capacity(); i++) {
            floats.put(i, (i % 1000) * 0.001f + rank);
        }
        try (RingAllReduce ring = new RingAllReduce(members, rank, RingAllReduce.Settings.of(TIMEOUT))) {
            Timer timer = new Timer(ring, mb, repeats);
            double reduce = timer.median(() -> ring.allReduceMean(data, 0, precision));
            int reduceWarmups = timer.warmups;
            double reduceCpu = timer.cpuSeconds;
            double socket;
            int socketWarmups;
            double socketCpu;
            try (SocketRing reference = new SocketRing(socketRingPorts.stream()
                    .map(p -> new InetSocketAddress("127.0.0.1", Integer.parseInt(p))).toList(), rank)) {
                socket = timer.median(() -> reference.allReduceMean(data));
                socketWarmups = timer.warmups;
                socketCpu = timer.cpuSeconds;
            }
            // the chain: rank 0 publishes, rank r fetches from rank r-1 and relays to rank r+1
            WeightPublisher publisher = rank < world - 1
                    ? new WeightPublisher("127.0.0.1", Integer.parseInt(publisherPorts.get(rank)),
                            WeightPublisher.DEFAULT_CHUNK_BYTES) : null;
            WeightReceiver receiver = rank == 0 ? null : new WeightReceiver("127.0.0.1:" + publisherPorts.get(rank - 1),
                    WeightPublisher.DEFAULT_CHUNK_BYTES);
            if (receiver != null && publisher != null) {
                receiver.relayThrough(publisher);
            }
            long[] version = {0};
            double broadcast;
            try {
                broadcast = timer.median(() -> {
                    version[0]++;
                    if (rank == 0) {
                        publisher.publish(WeightSnapshot.ofBytes(version[0], "bench", data));
                    } else {
                        receiver.awaitVersion(version[0], TIMEOUT);
                    }
                });
            } finally {
                if (receiver != null) {
                    receiver.close();
                }
                if (publisher != null) {
                    publisher.close();
                }
            }
            System.out.println(RESULT + reduce + " " + broadcast + " " + reduceWarmups + " " + timer.warmups + " "
                    + reduceCpu + " " + timer.cpuSeconds + " " + socket + " " + socketWarmups + " " + socketCpu);
        }
    }

    /**
     * Times a collective operation across the ranks: each iteration starts together (a barrier) and lasts until
     * the slowest rank is done. Warm-up iterations run until the times stop improving and the JIT is done (gRPC,
     * Netty and the reduction run interpreted until the JIT compiled them, and on two shared cores the compiler
     * threads take a large share of the CPU for tens of seconds, inside the timed iterations if these start
     * early): at least 20 s and enough to move 512 MiB, then until the median of the last three is within 10 % of
     * the three before and no rank's JIT compiled for more than 5 % of their time, at most 120 s. The decision
     * travels with the barrier: warming goes on while any rank asks for it.
     */
    private static final class Timer {
        private static final long MIN_WARMUP_NANOS = 20_000_000_000L;
        private static final long MAX_WARMUP_NANOS = 120_000_000_000L;
        private final RingAllReduce ring;
        private final int minWarmups;
        private final int repeats;
        private final ByteBuffer flag;
        int warmups;
        double cpuSeconds; // this process's CPU time during the timed repeats

        Timer(RingAllReduce ring, int mb, int repeats) {
            this.ring = ring;
            this.minWarmups = warmups(mb);
            this.repeats = repeats;
            this.flag = ByteBuffer.allocateDirect(4 * ring.world()).order(ByteOrder.nativeOrder());
        }

        double median(Runnable op) {
            List<Double> history = new ArrayList<>();
            List<long[]> clocks = new ArrayList<>(); // {wall ns, JIT ms} after each warm-up iteration
            long start = System.nanoTime();
            boolean warming = true;
            while (warming) {
                boolean more = history.size() < minWarmups || System.nanoTime() - start < MIN_WARMUP_NANOS
                        || improving(history) || compiling(clocks);
                warming = agree(more && System.nanoTime() - start < MAX_WARMUP_NANOS);
                if (warming) {
                    history.add(slowest(op));
                    clocks.add(new long[] {System.nanoTime(), jitMillis()});
                }
            }
            warmups = history.size();
            double[] timed = new double[repeats];
            long cpu0 = processCpuNanos();
            for (int i = 0; i < repeats; i++) {
                agree(true);
                timed[i] = slowest(op);
            }
            cpuSeconds = (processCpuNanos() - cpu0) / 1e9;
            return Figures.median(timed);
        }

        private static boolean improving(List<Double> times) {
            int n = times.size();
            if (n < 6) {
                return true;
            }
            double[] last = {times.get(n - 1), times.get(n - 2), times.get(n - 3)};
            double[] before = {times.get(n - 4), times.get(n - 5), times.get(n - 6)};
            return Figures.median(last) < 0.9 * Figures.median(before);
        }

        private static long jitMillis() {
            return ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
        }

        /** A barrier that also tells every rank whether any rank decided yes. */
        private boolean agree(boolean decision) {
            FloatBuffer slots = flag.asFloatBuffer();
            for (int r = 0; r < ring.world(); r++) {
                slots.put(r, r == ring.rank() && decision ? ring.world() : 0f);
            }
            ring.allReduceMean(flag, 1);
            for (int r = 0; r < ring.world(); r++) {
                if (slots.get(r) > 0.5f) {
                    return true;
                }
            }
            return false;
        }

        /** Runs {@code op} on every rank and returns the slowest rank's seconds. */
        private double slowest(Runnable op) {
            long t0 = System.nanoTime();
            op.run();
            double seconds = (System.nanoTime() - t0) / 1e9;
            // every rank's time in its own slot, scaled by R so that the mean is the value
            FloatBuffer times = flag.asFloatBuffer();
            for (int r = 0; r < ring.world(); r++) {
                times.put(r, r == ring.rank() ? (float) (seconds * ring.world()) : 0f);
            }
            ring.allReduceMean(flag, 2);
            double slowest = 0;
            for (int r = 0; r < ring.world(); r++) {
                slowest = Math.max(slowest, times.get(r));
            }
            return slowest;
        }
    }

    private static final int TCP_WARMUPS = 3;

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /**
     * Receives {@code repeats + TCP_WARMUPS} blocks of {@code bytes} from a child process over a plain socket:
     * GB/s, and the CPU milliseconds per MiB of both ends.
     */
    private static double[] tcp(long bytes, int repeats) {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
            ChildProcess sender = spawn("tcp-send", String.valueOf(port), String.valueOf(bytes >> 20),
                    String.valueOf(repeats + TCP_WARMUPS));
            double[] seconds = new double[repeats];
            long cpu = 0;
            try (SocketChannel in = server.accept()) {
                ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
                for (int i = -TCP_WARMUPS; i < repeats; i++) {
                    long t0 = System.nanoTime();
                    long c0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
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
                        cpu += ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - c0;
                    }
                }
            }
            double senderCpuMsPerMb = Double.parseDouble(ChildProcess.results(List.of(sender), RESULT, "tcp sender").get(0).trim());
            double mb = bytes / (double) (1 << 20);
            return new double[] {bytes / Figures.median(seconds) / 1e9, cpu / 1e6 / repeats / mb + senderCpuMsPerMb};
        } catch (IOException e) {
            throw new UncheckedIOException("tcp baseline", e);
        }
    }

    private static void tcpSend(int port, int mb, int blocks) throws IOException {
        long cpu0 = ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime();
        try (SocketChannel out = SocketChannel.open(new InetSocketAddress(InetAddress.getLoopbackAddress(), port))) {
            ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
            for (long i = 0, chunks = (long) blocks * mb; i < chunks; i++) {
                buffer.clear();
                while (buffer.hasRemaining()) {
                    out.write(buffer);
                }
            }
        }
        double cpuMs = (ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime() - cpu0) / 1e6;
        System.out.println(RESULT + cpuMs / ((long) blocks * mb));
    }

    /** A child JVM on the same classpath, running this class with {@code args}. */
    private static ChildProcess spawn(String... args) {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:MaxDirectMemorySize=4g"));
        String extra = System.getenv("DICE_BENCH_RANK_JAVA_OPTS"); // e.g. a profiler's flags
        if (extra != null && !extra.isBlank()) {
            command.addAll(List.of(extra.trim().split("\\s+")));
        }
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), AllReduceBench.class.getName()));
        command.addAll(List.of(args));
        return ChildProcess.start(command, Map.of());
    }
}
