package dev.dice.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.collective.FreePorts;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code dice bench memory}: the memory plan against the operating system's view. For every setting (trainers,
 * ZeRO stage, activation checkpointing) and model size, R trainer processes ({@link MemoryTrainer}, one JVM each,
 * ranks of one ring on loopback) take a few DPO steps on the CPU; each reports its resident memory beside the plan's
 * figures for its setting. The settings run one after another, so the processes of one never compete with another's.
 */
public final class MemoryBench {
    /** A model shape measured, by name. */
    public record Size(String name, LlamaConfig config) {}

    /** One setting: how many trainers share the ring, the ZeRO stage, activation checkpointing. */
    public record Setting(int trainers, int zeroStage, boolean checkpointing) {
        String label() {
            return "R" + trainers + "/zero" + zeroStage + (checkpointing ? "/checkpointing" : "");
        }
    }

    /** One run: a size under a setting. */
    public record Run(Size size, Setting setting) {}

    /** Every trainer's DPO micro-batch: {@code pairs} pairs of rows of {@code positions} scored positions. */
    public record Workload(int pairs, int positions, int steps) {
        public Workload {
            if (pairs < 1 || positions < 2 || steps < 2) {
                throw new IllegalArgumentException("memory bench needs --pairs >= 1, --positions >= 2, --steps >= 2");
            }
        }
    }


    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * Child processes allocate with a fixed mmap threshold: every tensor of 128 KiB or more is mapped on its own and
     * unmapped when freed, so resident memory follows what is live. With glibc's dynamic threshold (up to 32 MiB),
     * freed tensors stay in the heap and what the process holds depends on fragmentation, not on the plan.
     */
    static final String MMAP_THRESHOLD = "131072";

    private MemoryBench() {}

    /**
     * Llama-3-8B's proportions (4 query heads per key/value head of 64, an MLP 3.5 times as wide, untied head, rotary
     * θ 500,000) at three widths a 2-core machine trains in seconds. Eight layers and a 4,096-token vocabulary keep the
     * head's logits a small part of a step's activations, as in the 8B model (7 % here, 3 % there), so checkpointing
     * is measured on what it acts on.
     */
    public static List<Size> defaultSizes() {
        return List.of(llama3Shaped("S", 256, 8, 4096), llama3Shaped("M", 384, 8, 4096),
                llama3Shaped("L", 512, 8, 4096));
    }

    private static Size llama3Shaped(String name, int hidden, int layers, int vocab) {
        int heads = hidden / 64;
        return new Size(name, new LlamaConfig(vocab, hidden, hidden * 7 / 2, layers, heads, heads / 4, 8192, 1e-5,
                500000.0, false, 1, 2));
    }

    /**
     * Every size at R = 1 with and without checkpointing; the first and the last size also at {@code trainers} ranks
     * under ZeRO stages 0, 1 and 2. The last (largest) size is there because what ZeRO keeps per trainer at the first
     * is of the order of what the JVM itself grows by between steps (10–30 MiB), which a larger model outweighs.
     */
    public static List<Run> runs(List<Size> sizes, int trainers) {
        List<Run> runs = new ArrayList<>();
        for (Size size : sizes) {
            runs.add(new Run(size, new Setting(1, 0, false)));
            runs.add(new Run(size, new Setting(1, 0, true)));
        }
        if (trainers > 1) {
            List<Size> sharded = sizes.size() == 1 ? sizes : List.of(sizes.get(0), sizes.get(sizes.size() - 1));
            for (Size size : sharded) {
                for (int zero = 0; zero <= 2; zero++) {
                    runs.add(new Run(size, new Setting(trainers, zero, false)));
                }
            }
        }
        return runs;
    }

    public static Map<String, Object> run(List<Size> sizes, int trainers, Workload workload) {
        if (trainers < 1) {
            throw new IllegalArgumentException("memory bench needs --trainers >= 1");
        }
        double loadBefore = loadAverage();
        List<MemoryFigures.Measured> measured = new ArrayList<>();
        Path dir = tempDir();
        for (Run run : runs(sizes, trainers)) {
            Path config = dir.resolve(run.size().name() + ".json");
            if (!Files.exists(config)) {
                run.size().config().save(config);
                config.toFile().deleteOnExit();
            }
            measured.add(new MemoryFigures.Measured(run, measure(run, config, workload)));
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("workload", Map.of("pairs", workload.pairs(), "positions", workload.positions(),
                "steps", workload.steps()));
        List<Map<String, Object>> shapes = new ArrayList<>();
        for (Size s : sizes) {
            LlamaConfig c = s.config();
            shapes.add(Map.of("name", s.name(), "params", c.parameterCount(), "hidden", c.hiddenSize(),
                    "layers", c.numHiddenLayers(), "vocab", c.vocabSize()));
        }
        out.put("sizes", shapes);
        out.put("allocator", "glibc, MALLOC_MMAP_THRESHOLD_=" + MMAP_THRESHOLD);
        out.putAll(MemoryFigures.summary(measured, trainers));
        out.put("cores", Runtime.getRuntime().availableProcessors());
        out.put("load_avg_1m_before", loadBefore);
        out.put("load_avg_1m_after", loadAverage());
        return out;
    }

    /** Starts the run's R trainer processes and returns each one's report, in rank order. */
    private static List<MemoryTrainer.Report> measure(Run run, Path config, Workload workload) {
        int r = run.setting().trainers();
        List<String> members = FreePorts.loopbackAddresses(r);
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors() / r);
        List<ChildProcess> children = new ArrayList<>();
        for (int rank = 0; rank < r; rank++) {
            MemoryTrainer.Job job = new MemoryTrainer.Job(config, rank, members, run.setting().zeroStage(),
                    run.setting().checkpointing(), workload.pairs(), workload.positions(), workload.steps());
            children.add(ChildProcess.start(command(threads, job.args()), Map.of("MALLOC_MMAP_THRESHOLD_",
                    MMAP_THRESHOLD, "OMP_WAIT_POLICY", "PASSIVE")));
        }
        List<MemoryTrainer.Report> reports = new ArrayList<>();
        for (String line : ChildProcess.results(children, MemoryTrainer.RESULT, "memory bench " + run.size().name()
                + " " + run.setting().label())) {
            try {
                reports.add(JSON.readValue(line, MemoryTrainer.Report.class));
            } catch (IOException e) {
                throw new UncheckedIOException("memory bench: a trainer's report is not JSON: " + line, e);
            }
        }
        return reports;
    }

    /** The trainer's JVM: this one's system properties (offline DJL and the like), its own heap and threads. */
    private static List<String> command(int threads, List<String> args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (arg.startsWith("-D") && !arg.startsWith("-Dai.djl.pytorch.num_threads=")) {
                command.add(arg);
            }
        }
        // A heap resident from the start: garbage filling it during the steps is not counted as the trainer's. Weights
        // made from Java arrays live in direct buffers (DJL keeps them as the tensors' memory): no limit on those.
        command.addAll(List.of("-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-XX:MaxDirectMemorySize=1t",
                "-Dai.djl.pytorch.num_threads=" + threads,
                "-Dai.djl.pytorch.num_interop_threads=1", "-cp", System.getProperty("java.class.path"),
                MemoryTrainer.class.getName()));
        command.addAll(args);
        return command;
    }

    private static Path tempDir() {
        try {
            Path dir = Files.createTempDirectory("dice-bench-memory-");
            dir.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("memory bench: cannot create a temporary directory", e);
        }
    }

    private static double loadAverage() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }
}
