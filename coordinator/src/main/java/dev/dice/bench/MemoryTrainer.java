package dev.dice.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.LrSchedule;
import dev.dice.gpu.MemoryPlan;
import dev.dice.gpu.SequenceBatch;
import dev.dice.gpu.Trainer;
import dev.dice.gpu.collective.DataParallel;
import dev.dice.gpu.collective.RingAllReduce;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * One trainer process of {@code dice bench memory}: a random model of the given shape takes a few data-parallel DPO
 * steps with its ring of trainers, and the process reports, beside the plan's figures for its setting, its own resident
 * memory: where it stood before the weights existed (the base: JVM, libtorch, the ring), the weights, the peak, the
 * forward/backward peak of the last step above the state the step before left (activations, logits and backward's
 * working set), what stays between steps (gradients and optimizer state), and the step times (wall and CPU). It prints one line,
 * {@code RESULT <json>}.
 */
public final class MemoryTrainer {
    static final String RESULT = "RESULT ";
    private static final Duration TIMEOUT = Duration.ofSeconds(300);
    private static final double BETA = 0.1;

    /** What one trainer runs: its ring, its setting, and the DPO micro-batch of {@code pairs} pairs of rows. */
    record Job(Path config, int rank, List<String> members, int zeroStage, boolean checkpointing, int pairs,
            int positions, int steps) {
        List<String> args() {
            return List.of(config.toString(), String.valueOf(rank), String.join(",", members), String.valueOf(zeroStage),
                    String.valueOf(checkpointing), String.valueOf(pairs), String.valueOf(positions),
                    String.valueOf(steps));
        }

        static Job parse(String[] a) {
            return new Job(Path.of(a[0]), Integer.parseInt(a[1]), List.of(a[2].split(",")), Integer.parseInt(a[3]),
                    Boolean.parseBoolean(a[4]), Integer.parseInt(a[5]), Integer.parseInt(a[6]), Integer.parseInt(a[7]));
        }

        /** The plan's settings for this job: 2·pairs rows of {@code positions} positions, every one scored. */
        MemoryPlan.Settings planSettings() {
            return new MemoryPlan.Settings(members.size(), Long.MAX_VALUE, zeroStage, checkpointing,
                    2L * pairs * positions, positions, 1, 1, 1, 1, GradBuckets.DEFAULT_BUCKET_BYTES);
        }
    }

    private MemoryTrainer() {}

    public static void main(String[] args) throws Exception {
        Report result = run(Job.parse(args));
        System.out.println(RESULT + new ObjectMapper().writeValueAsString(result));
        System.exit(0);
    }

    /**
     * What one trainer measured (bytes of resident memory above its base, before the weights existed) and what the
     * plan says for its setting. State: what stays from one step to the next besides the weights (gradients, optimizer
     * moments). Activations: the last step's forward/backward peak above what the step before left.
     */
    record Report(int rank, long baseBytes, long measuredPeak, long measuredWeights, long measuredState,
            long measuredActivations, long plannedPeak, long plannedWeights, long plannedState, long plannedActivations,
            double[] stepSeconds, double[] stepCpuSeconds) {}

    /** This process's CPU time, every thread: on a shared machine it moves less with the load than wall time. */
    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    static Report run(Job job) {
        LlamaConfig config = LlamaConfig.load(job.config());
        MemoryPlan.Trainer plan = MemoryPlan.of(config, job.planSettings()).trainer();
        try (NDManager root = NDManager.newBaseManager();
                RingAllReduce ring = new RingAllReduce(job.members(), job.rank(), RingAllReduce.Settings.of(TIMEOUT))) {
            warmUp(root, ring, job.zeroStage(), MemoryPlan.largestBucketFloats(config, GradBuckets.DEFAULT_BUCKET_BYTES));
            System.gc();
            long base = ResidentMemory.now();
            ResidentMemory.resetPeak();
            Llama model = Llama.init(config, root.newSubManager(), 7); // the same seed on every rank: equal replicas
            model.checkpointActivations(job.checkpointing());
            long weights = ResidentMemory.now() - base;
            long peak = ResidentMemory.peak() - base; // the weights' creation
            Trainer trainer = new Trainer(model, settings(job.zeroStage()));
            DataParallel parallel = new DataParallel(trainer, ring, 0);
            SequenceBatch batch = batch(config.vocabSize(), job.pairs(), job.positions(), job.rank());
            float[] reference = new float[job.pairs()];
            Arrays.fill(reference, (float) (-job.positions() * Math.log(config.vocabSize())));
            long state = 0;
            long activations = 0;
            double[] seconds = new double[job.steps()];
            double[] cpuSeconds = new double[job.steps()];
            for (int step = 0; step < job.steps(); step++) {
                long before = ResidentMemory.now();
                ResidentMemory.resetPeak();
                long t0 = System.nanoTime();
                long cpu0 = processCpuNanos();
                trainer.dpo(batch, reference, reference, BETA, 1.0);
                long backwardPeak = ResidentMemory.peak();
                ResidentMemory.resetPeak();
                parallel.step();
                seconds[step] = (System.nanoTime() - t0) / 1e9;
                cpuSeconds[step] = (processCpuNanos() - cpu0) / 1e9;
                long stepPeak = ResidentMemory.peak();
                peak = Math.max(peak, Math.max(backwardPeak, stepPeak) - base);
                activations = backwardPeak - before;
                state = ResidentMemory.now() - base - weights;
            }
            model.close();
            return new Report(job.rank(), base, peak, weights, state, activations, plan.peak(), plan.weights(),
                    plan.state(), plan.activations() + plan.logits() + plan.backwardWorkingSet(),
                    seconds, cpuSeconds);
        }
    }

    /**
     * Loads libtorch's kernels and thread pools on a throwaway model, and moves a largest-bucket-sized buffer around
     * the ring, so that the base the figures are measured from already holds them.
     */
    private static void warmUp(NDManager root, RingAllReduce ring, int zeroStage, long bucketFloats) {
        LlamaConfig tiny = new LlamaConfig(64, 32, 64, 1, 2, 1, 64, 1e-5, 10000.0, false, 1, 2);
        try (NDManager m = root.newSubManager(); Llama model = Llama.init(tiny, m, 1)) {
            Trainer trainer = new Trainer(model, settings(zeroStage));
            DataParallel parallel = new DataParallel(trainer, ring, 0);
            SequenceBatch batch = batch(tiny.vocabSize(), 1, 8, 0);
            for (boolean checkpointing : new boolean[] {false, true}) {
                model.checkpointActivations(checkpointing);
                trainer.dpo(batch, new float[1], new float[1], BETA, 1.0);
                parallel.step();
            }
            NDArray bucket = m.zeros(new Shape(bucketFloats));
            for (int i = 0; i < 2; i++) {
                ring.allReduceMean(JniUtils.getByteBuffer((PtNDArray) bucket, true), i);
            }
        }
    }

    private static Trainer.Settings settings(int zeroStage) {
        return Trainer.Settings.of(LrSchedule.constant(1e-5, 1), 1.0).withZeroStage(zeroStage);
    }

    /**
     * {@code pairs} pairs of rows of one prompt token and {@code positions} response tokens, chosen rows first: every
     * position runs through the model and is scored (no two rows share a prompt prefix to run once).
     */
    static SequenceBatch batch(int vocab, int pairs, int positions, int seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < 2 * pairs; i++) {
            prompts.add(new int[] {rng.nextInt(vocab)});
            responses.add(rng.ints(positions, 0, vocab).toArray());
        }
        return SequenceBatch.of(prompts, responses, 0);
    }
}
