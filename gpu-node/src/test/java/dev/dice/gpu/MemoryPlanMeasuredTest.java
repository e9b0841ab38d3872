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
 * The plan against the operating system's view of a real training step: a random Llama of ~21M parameters trains two
 * steps on 4 rows of 256 tokens with libtorch on the CPU, and the growth of the process's peak resident memory (VmHWM,
 * reset through /proc/self/clear_refs after the weights exist) is compared with the planned trainer peak minus the
 * weights. Tolerance 20 %: the allocator's slack and libtorch's own buffers are not in the plan.
 */
class MemoryPlanMeasuredTest {
    static final double TOLERANCE = 0.20;

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
            SequenceBatch batch = batch(rows, length, config.vocabSize());
            System.gc();
            long before = residentBytes("VmRSS");
            boolean reset = resetPeak();
            for (int step = 0; step < 2; step++) {
                try (NDScope scope = new NDScope()) {
                    Autograd.backward(Autograd.recording(() -> batch.responseLogProbs(model).sum().neg()));
                }
                trainer.step();
            }
            long peak = residentBytes("VmHWM");
            long measured = peak - before;
            MemoryPlan.Plan plan = MemoryPlan.of(config, new MemoryPlan.Settings(1, Long.MAX_VALUE, 0, false,
                    (long) rows * (length - 1), length - 1, 1, 1, 1, 1, GradBuckets.DEFAULT_BUCKET_BYTES));
            long planned = plan.trainer().peak() - plan.trainer().weights();
            double error = (planned - measured) / (double) measured;
            System.out.printf("memory plan vs measured: parameters %d, planned growth %.1f MiB (backward %.1f, step"
                    + " %.1f), measured %.1f MiB (VmRSS before %.1f MiB, peak reset: %s), error %+.1f %%%n",
                    plan.parameters(), planned / 1048576.0, (plan.trainer().backwardPhase() - plan.trainer().weights())
                    / 1048576.0, (plan.trainer().stepPhase() - plan.trainer().weights()) / 1048576.0,
                    measured / 1048576.0, before / 1048576.0, reset, 100 * error);
            model.close();
            if (reset) {
                assertTrue(Math.abs(error) <= TOLERANCE, "planned " + planned + " vs measured " + measured);
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
