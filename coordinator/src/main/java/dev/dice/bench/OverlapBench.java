package dev.dice.bench;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.AdamW;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.LrSchedule;
import dev.dice.gpu.SequenceBatch;
import dev.dice.gpu.Trainer;
import dev.dice.gpu.collective.Collective;
import dev.dice.gpu.collective.DataParallel;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.gpu.collective.RingAllReduce;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * {@code dice bench overlap}: one DPO step of R trainer JVMs on loopback (a ring over gRPC), its gradient buckets
 * all-reduced after backward ({@link DataParallel#step()}) against all-reduced while backward runs
 * ({@link DataParallel#step(Runnable)}), in the same processes, the two kinds of step alternating (ABBA) so that a
 * change of load falls on both. A step's time is the slowest rank's, from a barrier to the step's end; each rank runs
 * libtorch on cores / R threads, as {@code dice local-cluster} gives its nodes. Figures are medians of the timed steps.
 * With a link rate, each rank's stream to its neighbour passes a {@link ShapedLink} of that rate (a machine's uplink),
 * so that the ring waits on links rather than on the cores, as between machines.
 */
public final class OverlapBench {
    private static final String RESULT = "RESULT ";
    private static final int WARMUP_ROUNDS = 4;
    private static final int PROMPT_TOKENS = 32;
    private static final int RESPONSE_TOKENS = 32;

    private OverlapBench() {}

    /** Parent side: spawns the ranks and collects the figures. */
    public static Map<String, Object> run(LlamaConfig config, String model, int ranks, int pairs, int repeats,
            long bucketBytes, int linkMbit) {
        if (ranks < 2 || pairs < ranks || repeats < 1 || bucketBytes < 4) {
            throw new IllegalArgumentException("overlap bench needs --ranks >= 2, pairs >= ranks, --repeats >= 1");
        }
        double loadBefore = Load.average();
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / ranks);
        Path dir;
        try {
            dir = Files.createTempDirectory("dice-overlap-");
            config.save(dir.resolve("config.json"));
        } catch (IOException e) {
            throw new UncheckedIOException("overlap bench: cannot write the model's config", e);
        }
        List<Integer> ports = FreePorts.on(InetAddress.getLoopbackAddress(), ranks);
        List<ShapedLink> links = new ArrayList<>();
        double[] f;
        try {
            for (int r = 0; r < ranks && linkMbit > 0; r++) {
                links.add(new ShapedLink(ports.get(r), linkMbit * 1_000_000L / 8, true));
            }
            List<ChildProcess> children = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                List<String> members = new ArrayList<>(); // its own server; its neighbours through their links
                for (int m = 0; m < ranks; m++) {
                    members.add("127.0.0.1:" + (m == r || links.isEmpty() ? ports.get(m) : links.get(m).port()));
                }
                children.add(rank(threads, String.valueOf(r), String.join(",", members),
                        dir.resolve("config.json").toString(), String.valueOf(pairs), String.valueOf(repeats),
                        String.valueOf(bucketBytes)));
            }
            f = Arrays.stream(ChildProcess.results(children, RESULT, "overlap ranks").get(0).trim().split(" "))
                    .mapToDouble(Double::parseDouble).toArray();
        } finally {
            links.forEach(ShapedLink::close);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("ranks", ranks);
        out.put("processes", "one trainer JVM per rank, ring over gRPC on loopback");
        out.put("link_mbit", linkMbit);
        out.put("model", model);
        out.put("parameters", config.parameterCount());
        out.put("gradient_mb", Figures.round(config.parameterCount() * 4 / 1048576.0));
        out.put("bucket_kb", bucketBytes >> 10);
        out.put("buckets", (int) f[3]);
        out.put("pairs", pairs);
        out.put("tokens_per_row", PROMPT_TOKENS + RESPONSE_TOKENS);
        out.put("threads_per_rank", threads);
        out.put("repeats", repeats);
        out.put("step_ms", Figures.round(f[0] * 1e3));
        out.put("overlap_step_ms", Figures.round(f[1] * 1e3));
        out.put("overlap_step_time_ratio", Figures.round(f[1] / f[0]));
        out.put("allreduce_ms_in_step", Figures.round(f[2] * 1e3));
        out.put("allreduce_share_of_step", Figures.round(f[2] / f[0]));
        out.put("cores", Runtime.getRuntime().availableProcessors());
        out.put("load_avg_1m_before", loadBefore);
        out.put("load_avg_1m_after", Load.average());
        return out;
    }

    /** Child: {@code <rank> <members> <config.json> <pairs> <repeats> <bucketBytes>}. */
    public static void main(String[] args) {
        rank(Integer.parseInt(args[0]), List.of(args[1].split(",")), LlamaConfig.load(Path.of(args[2])),
                Integer.parseInt(args[3]), Integer.parseInt(args[4]), Long.parseLong(args[5]));
        System.exit(0);
    }

    private static void rank(int rank, List<String> members, LlamaConfig config, int pairs, int repeats,
            long bucketBytes) {
        int world = members.size();
        double[] reduceSeconds = {0};
        int share = pairs / world;
        try (NDManager root = NDManager.newBaseManager();
                RingAllReduce ring = new RingAllReduce(members, rank, RingAllReduce.Settings.of(Duration.ofSeconds(120))
                        .withRingId("overlap-bench"))) {
            Llama model = Llama.init(config, root.newSubManager(), 1);
            Trainer trainer = new Trainer(model,
                    new Trainer.Settings(LrSchedule.constant(1e-5, 1), AdamW.Settings.defaults(), 1.0, bucketBytes));
            DataParallel.Traffic traffic = (bytes, seconds) -> reduceSeconds[0] += seconds;
            DataParallel plainRing = new DataParallel(trainer, ring, 0, Collective.Precision.FP32, traffic, false);
            DataParallel overlapRing = new DataParallel(trainer, ring, 0, Collective.Precision.FP32, traffic, true);
            SequenceBatch batch = pairBatch(config, share, rank);
            float[] refs = new float[share];
            Arrays.fill(refs, -40f);
            Runnable backward = () -> trainer.dpo(batch, refs, refs, 0.1, 1.0);
            Runnable plain = () -> plainRing.step(backward);
            Runnable overlapped = () -> overlapRing.step(backward);
            Slowest slowest = new Slowest(ring);
            for (int i = 0; i < WARMUP_ROUNDS; i++) {
                slowest.time(plain);
                slowest.time(overlapped);
            }
            double[] plainTimes = new double[repeats];
            double[] overlapTimes = new double[repeats];
            double[] reduceTimes = new double[repeats];
            for (int i = 0; i < repeats; i++) {
                boolean plainFirst = i % 4 == 0 || i % 4 == 3; // A B B A
                if (!plainFirst) {
                    overlapTimes[i] = slowest.time(overlapped);
                }
                reduceSeconds[0] = 0;
                plainTimes[i] = slowest.time(plain);
                reduceTimes[i] = reduceSeconds[0];
                if (plainFirst) {
                    overlapTimes[i] = slowest.time(overlapped);
                }
            }
            int buckets = GradBuckets.layout(model.parameters(), bucketBytes).size();
            System.out.println(RESULT + Figures.median(plainTimes) + " " + Figures.median(overlapTimes) + " "
                    + Figures.median(reduceTimes) + " " + buckets);
        }
    }

    /** Times a step on every rank from a common start; the slowest rank's seconds. */
    private record Slowest(RingAllReduce ring, ByteBuffer slots) {
        Slowest(RingAllReduce ring) {
            this(ring, ByteBuffer.allocateDirect(4 * ring.world()).order(ByteOrder.nativeOrder()));
        }

        double time(Runnable step) {
            FloatBuffer f = slots.asFloatBuffer();
            ring.allReduceMean(slots, -10); // the barrier
            long t0 = System.nanoTime();
            step.run();
            double seconds = (System.nanoTime() - t0) / 1e9;
            for (int r = 0; r < ring.world(); r++) {
                f.put(r, r == ring.rank() ? (float) (seconds * ring.world()) : 0f);
            }
            ring.allReduceMean(slots, -11);
            double max = 0;
            for (int r = 0; r < ring.world(); r++) {
                max = Math.max(max, f.get(r));
            }
            return max;
        }
    }

    /** {@code pairs} pairs whose chosen and rejected share a random prompt; every response is random. */
    private static SequenceBatch pairBatch(LlamaConfig config, int pairs, int rank) {
        Random rng = new Random(31L * rank + pairs);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < 2 * pairs; i++) {
            prompts.add(i < pairs ? rng.ints(PROMPT_TOKENS, 3, config.vocabSize()).toArray() : prompts.get(i - pairs));
            responses.add(rng.ints(RESPONSE_TOKENS, 3, config.vocabSize()).toArray());
        }
        return SequenceBatch.of(prompts, responses, 0);
    }

    /** The 1-minute load average, or -1 where /proc has none. */
    private static final class Load {
        static double average() {
            try {
                return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
            } catch (IOException | RuntimeException e) {
                return -1;
            }
        }
    }

    /** A rank's JVM: this JVM's java, classpath and flags, with its own libtorch thread count. */
    private static ChildProcess rank(int threads, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-Dai.djl.pytorch.num_threads=") && !arg.startsWith("-agentlib:jdwp")) {
                command.add(arg);
            }
        }
        command.addAll(List.of("-Dai.djl.pytorch.num_threads=" + threads, "-cp",
                System.getProperty("java.class.path"), OverlapBench.class.getName()));
        command.addAll(List.of(args));
        return ChildProcess.start(command, Map.of("OMP_WAIT_POLICY", "PASSIVE"));
    }
}
