package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The plan against the operating system's view of a real training step: a random Llama of ~21M parameters trains four
 * steps on 4 rows of 256 tokens with libtorch on the CPU, and the growth of the process's peak resident memory (VmHWM,
 * reset through /proc/self/clear_refs after the weights exist) is compared with the plan: the first forward pass
 * (activations, logits) within 15 %, the first backward pass (+ .grad) at most 15 % above it, the peak over four steps
 * within 15 % (checkpointed: at most 15 % above it). The test runs in a JVM of its own whose glibc has a fixed mmap threshold (gpu-node/pom.xml), so resident
 * memory follows the live tensors; with glibc's dynamic threshold it also holds whatever fragmentation keeps.
 */
class MemoryPlanMeasuredTest {
    /** Planned within 15 % of the measured growth (seen: forward +3 %, peak over four steps +5 %). */
    static final double TOLERANCE = 0.15;
    static final int STEPS = 4;

    @Test
    void plannedTrainerPeakMatchesMeasuredResidentGrowth() throws IOException {
        // vocab 8192, hidden 512, SwiGLU 1536, 4 layers, 8 heads sharing 4 key/value heads, untied head
        LlamaConfig config = new LlamaConfig(8192, 512, 1536, 4, 8, 4, 512, 1e-5, 10000.0, false, 1, 2);
        int rows = 4;
        int length = 257; // 256 positions run through the model; every one predicts a response token
        try (NDManager root = NDManager.newBaseManager()) {
            warmUp(root);
            Llama model = Llama.init(config, root.newSubManager(), 7);
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 1.0));
            boolean checkpointing = Boolean.getBoolean("dice.test.checkpointing");
            model.checkpointActivations(checkpointing);
            SequenceBatch batch = batch(rows, length, config.vocabSize());
            long started = 0;
            System.gc();
            long before = residentBytes("VmRSS");
            boolean reset = resetPeak();
            long[][] phases = new long[STEPS][3];
            for (int step = 0; step < STEPS; step++) {
                try (NDScope scope = new NDScope()) {
                    NDArray loss = Autograd.recording(() -> batch.responseLogProbs(model).sum().neg());
                    phases[step][0] = residentBytes("VmHWM") - before;
                    Autograd.backward(loss);
                    model.backwardCheckpoints();
                    phases[step][1] = residentBytes("VmHWM") - before;
                }
                trainer.step();
                phases[step][2] = residentBytes("VmHWM") - before;
                if (step == 0) {
                    started = System.nanoTime();
                }
            }
            System.out.printf("checkpointing %s: %.0f ms per step (steps 2-%d)%n", checkpointing,
                    (System.nanoTime() - started) / 1e6 / (STEPS - 1), STEPS);
            System.out.printf("measured peak growth after forward / backward / step, MiB: %s%n",
                    java.util.Arrays.stream(phases).map(p -> java.util.Arrays.stream(p).map(b -> b >> 20)
                            .mapToObj(Long::toString).collect(java.util.stream.Collectors.joining(" / ")))
                            .collect(java.util.stream.Collectors.joining(", ")));
            long measured = residentBytes("VmHWM") - before;
            MemoryPlan.Trainer plan = MemoryPlan.of(config, new MemoryPlan.Settings(1, Long.MAX_VALUE, 0, checkpointing,
                    (long) rows * (length - 1), length - 1, 1, 1, 1, 1, GradBuckets.DEFAULT_BUCKET_BYTES)).trainer();
            long forward = plan.activations() + plan.logits();
            long backward = plan.gradients() + forward + plan.backwardWorkingSet();
            long planned = plan.peak() - plan.weights();
            System.out.printf("memory plan vs measured growth, MiB: first forward %d vs %d (%+.1f %%), first backward"
                    + " %d vs %d (%+.1f %%), peak over %d steps %d vs %d (measured %.2fx planned); VmRSS before %d MiB%n",
                    forward >> 20, phases[0][0] >> 20, 100.0 * (forward - phases[0][0]) / phases[0][0],
                    backward >> 20, phases[0][1] >> 20, 100.0 * (backward - phases[0][1]) / phases[0][1],
                    STEPS, planned >> 20, measured >> 20, measured / (double) planned, before >> 20);
            model.close();
            if (reset) {
                // Checkpointed, the one layer's intermediates live only while the layer runs: measured 9-39 % below the
                // plan, which counts them whole; the plan must not be below the measurement.
                assertTrue(checkpointing ? phases[0][0] <= (1 + TOLERANCE) * forward
                        : Math.abs(forward - phases[0][0]) <= TOLERANCE * phases[0][0], "first forward");
                // The first backward pass frees its working set (the logits' gradient, a layer's) while the .grad
                // tensors are still being made; the plan counts a later step's, when every .grad exists: measured 22 %
                // below, never above.
                assertTrue(phases[0][1] <= (1 + TOLERANCE) * backward, "first backward");
                // Checkpointed, the plan is an upper bound (the recomputed layer, counted whole: measured 0.83x).
                assertTrue(checkpointing ? measured <= (1 + TOLERANCE) * planned
                        : Math.abs(planned - measured) <= TOLERANCE * measured, "peak over " + STEPS + " steps");
            }
        }
    }

    /** Loads libtorch's kernels and thread pools on a throwaway model, so their memory is in the baseline. */
    private static void warmUp(NDManager root) {
        try (Llama tiny = TinyModels.model(root, 1)) {
            Trainer t = new Trainer(tiny, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 1.0));
            SequenceBatch b = batch(2, 16, 32);
            try (NDScope scope = new NDScope()) {
                Autograd.backward(Autograd.recording(() -> b.responseLogProbs(tiny).sum().neg()));
            }
            t.step();
        }
    }

    /** Rows of a one-token prompt and a random response filling the rest. */
    private static SequenceBatch batch(int rows, int length, int vocab) {
        SplittableRandom rng = new SplittableRandom(3);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            prompts.add(new int[] {1});
            int[] r = new int[length - 1];
            for (int j = 0; j < r.length; j++) {
                r[j] = 3 + rng.nextInt(vocab - 3);
            }
            responses.add(r);
        }
        return SequenceBatch.of(prompts, responses, 0);
    }

    /** Resets VmHWM to the current resident size (Linux ≥ 4.0); false where that is not allowed. */
    private static boolean resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            return true;
        } catch (IOException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static long residentBytes(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no " + field + " in /proc/self/status");
    }
}
