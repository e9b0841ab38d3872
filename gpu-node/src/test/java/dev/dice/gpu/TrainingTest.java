package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class TrainingTest {
    static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    private static double dpoLoss(Llama model, SequenceBatch pairs, float[] rc, float[] rr, double beta) {
        Autograd.off();
        try (NDScope scope = new NDScope()) {
            return Losses.dpo(model, pairs, rc, rr, beta).loss().getFloat();
        }
    }

    @Test
    void dpoLossMatchesClosedFormAndFiniteDifferences() {
        try (Llama model = TinyModels.model(root, 7)) {
            List<int[]> prompts = List.of(new int[] {1, 4, 5}, new int[] {1, 6}, new int[] {1, 4, 5}, new int[] {1, 6});
            List<int[]> responses = List.of(new int[] {7, 8, 2}, new int[] {9, 2}, new int[] {10, 2}, new int[] {11, 12, 2});
            SequenceBatch pairs = SequenceBatch.of(prompts, responses, 0);
            float[] rc = {-7.5f, -4.0f};
            float[] rr = {-5.0f, -6.5f};
            double beta = 0.5;
            Autograd.off();
            float[] logp;
            try (NDScope scope = new NDScope()) {
                logp = pairs.responseLogProbs(model).toFloatArray();
            }
            double closed = 0;
            for (int i = 0; i < 2; i++) {
                double margin = beta * ((logp[i] - rc[i]) - (logp[i + 2] - rr[i]));
                closed += -Math.log(1 / (1 + Math.exp(-margin)));
            }
            assertEquals(closed / 2, dpoLoss(model, pairs, rc, rr, beta), 1e-5);

            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(0, 1), 0));
            trainer.dpo(pairs, rc, rr, beta, 1.0);
            NDArray w = model.parameters().get("model.layers.1.mlp.down_proj.weight");
            try (NDManager scratch = root.newSubManager(); GradBuckets grads = trainer.gradients(scratch)) {
                float[] analytic = grads.gradient("model.layers.1.mlp.down_proj.weight").toFloatArray();
                Random rng = new Random(1);
                Autograd.off();
                for (int k = 0; k < 6; k++) {
                    int idx = rng.nextInt((int) w.size());
                    double eps = 1e-2;
                    float[] values = w.toFloatArray();
                    float original = values[idx];
                    values[idx] = (float) (original + eps);
                    w.set(FloatBuffer.wrap(values));
                    double up = dpoLoss(model, pairs, rc, rr, beta);
                    values[idx] = (float) (original - eps);
                    w.set(FloatBuffer.wrap(values));
                    double down = dpoLoss(model, pairs, rc, rr, beta);
                    values[idx] = original;
                    w.set(FloatBuffer.wrap(values));
                    double numeric = (up - down) / (2 * eps);
                    assertEquals(numeric, analytic[idx], 2e-3 + 0.05 * Math.abs(numeric), "coordinate " + idx);
                }
            }
        }
    }

    @Test
    void sftLearnsACopyTask() {
        try (Llama model = Llama.init(TinyModels.config(16, 32, true), root.newSubManager(), 5)) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(3e-3, 10), 1.0));
            Random rng = new Random(9);
            double first = 0;
            double last = 0;
            for (int step = 0; step < 150; step++) {
                List<int[]> prompts = new ArrayList<>();
                List<int[]> responses = new ArrayList<>();
                for (int i = 0; i < 16; i++) {
                    int[] word = rng.ints(4, 3, 16).toArray();
                    prompts.add(new int[] {1, word[0], word[1], word[2], word[3], 0});
                    responses.add(new int[] {word[0], word[1], word[2], word[3], 2});
                }
                double loss = trainer.sft(SequenceBatch.of(prompts, responses, 0), 1.0);
                trainer.step();
                if (step < 5) {
                    first += loss / 5;
                }
                if (step >= 145) {
                    last += loss / 5;
                }
            }
            assertTrue(last < 0.3 * first, "loss " + first + " -> " + last);
        }
    }

    @Test
    void dpoOnSyntheticPairsLiftsRewardAccuracy() {
        // Pairs where the chosen response always starts with token 5 and the rejected with token 6.
        try (Llama model = TinyModels.model(root, 8)) {
            Llama reference = model.copy();
            Random rng = new Random(4);
            List<int[]> prompts = new ArrayList<>();
            List<int[]> responses = new ArrayList<>();
            int n = 32;
            for (int i = 0; i < n; i++) {
                prompts.add(new int[] {1, 3 + rng.nextInt(10), 3 + rng.nextInt(10)});
            }
            for (int side = 5; side <= 6; side++) {
                for (int i = 0; i < n; i++) {
                    responses.add(new int[] {side, 3 + rng.nextInt(10), 2});
                }
            }
            List<int[]> both = new ArrayList<>(prompts);
            both.addAll(prompts);
            SequenceBatch pairs = SequenceBatch.of(both, responses, 0);
            float[] ref;
            Autograd.off();
            try (NDScope scope = new NDScope()) {
                ref = pairs.responseLogProbs(reference).toFloatArray();
            }
            float[] rc = java.util.Arrays.copyOfRange(ref, 0, n);
            float[] rr = java.util.Arrays.copyOfRange(ref, n, 2 * n);
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-3, 1), 1.0));
            Trainer.DpoStats stats = null;
            for (int step = 0; step < 30; step++) {
                stats = trainer.dpo(pairs, rc, rr, 0.1, 1.0);
                trainer.step();
            }
            stats = trainer.dpo(pairs, rc, rr, 0.1, 1.0);
            assertTrue(stats.rewardAccuracy() > 0.9, "reward accuracy " + stats.rewardAccuracy());
            assertTrue(stats.loss() < Math.log(2), "loss " + stats.loss());
            reference.close();
        }
    }

    @Test
    void bucketsAreViewsTheOptimizerReads() {
        try (Llama model = TinyModels.model(root, 9)) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-2, 1), 0));
            SequenceBatch batch = SequenceBatch.of(List.of(new int[] {1, 4}), List.of(new int[] {5, 2}), 0);
            trainer.sft(batch, 1.0);
            try (NDManager scratch = root.newSubManager();
                    GradBuckets grads = new GradBuckets(model.parameters(), scratch, 4096)) {
                assertTrue(grads.size() > 1, "small buckets split the model");
                // Writing through the byte view changes what the per-parameter view reads.
                FloatBuffer f = grads.floats(0);
                f.put(0, 123f);
                float seen = -1;
                for (String name : model.parameters().keySet()) {
                    float[] g = grads.gradient(name).toFloatArray();
                    if (g.length > 0 && g[0] == 123f) {
                        seen = g[0];
                    }
                }
                assertEquals(123f, seen);
                double norm = grads.globalNorm();
                grads.scale(0.5);
                assertEquals(norm / 2, grads.globalNorm(), 1e-3 * norm);
            }
        }
    }

    @Test
    void adamWMatchesTheReferenceUpdate() {
        try (Llama model = TinyModels.model(root, 10)) {
            String name = "model.norm.weight";
            float before = model.parameters().get(name).toFloatArray()[0];
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(0.01, 1), 0));
            trainer.sft(SequenceBatch.of(List.of(new int[] {1, 4}), List.of(new int[] {5, 2}), 0), 1.0);
            float g;
            try (NDManager scratch = root.newSubManager(); GradBuckets grads = trainer.gradients(scratch)) {
                g = grads.gradient(name).toFloatArray()[0];
                trainer.apply(grads);
            }
            // Step 1: m̂ = g, v̂ = g², update = lr · g / (|g| + ε)
            double expected = before - 0.01 * g / (Math.abs(g) + 1e-8);
            assertEquals(expected, model.parameters().get(name).toFloatArray()[0], 1e-6);
        }
    }

    @Test
    void aStepWithANonFiniteGradientIsSkipped() {
        try (Llama model = TinyModels.model(root, 11)) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(0.01, 1), 1.0));
            float[] before = model.parameters().get("model.norm.weight").toFloatArray();
            trainer.sft(SequenceBatch.of(List.of(new int[] {1, 4}), List.of(new int[] {5, 2}), 0), Double.NaN);
            Trainer.StepReport report = trainer.step();
            assertTrue(Double.isNaN(report.gradNorm()));
            assertEquals(1, trainer.skippedSteps());
            assertArrayEqualsBits(before, model.parameters().get("model.norm.weight").toFloatArray());
            // the next, healthy step trains again
            trainer.sft(SequenceBatch.of(List.of(new int[] {1, 4}), List.of(new int[] {5, 2}), 0), 1.0);
            assertTrue(Double.isFinite(trainer.step().gradNorm()));
        }
    }

    /** One SFT and one DPO micro-batch from fresh weights: the accumulated gradient, flat. */
    private static float[] gradientOfOneStep() {
        try (Llama model = TinyModels.model(root, 12)) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(0.01, 1), 1.0));
            List<int[]> prompts = List.of(new int[] {1, 4, 5}, new int[] {1, 6}, new int[] {1, 4, 5}, new int[] {1, 6});
            List<int[]> responses = List.of(new int[] {7, 8, 2}, new int[] {9, 2}, new int[] {10, 2}, new int[] {11, 2});
            trainer.sft(SequenceBatch.of(prompts, responses, 0), 0.5);
            trainer.dpo(SequenceBatch.of(prompts, responses, 0), new float[] {-7, -4}, new float[] {-5, -6}, 0.5, 0.5);
            try (NDManager scratch = root.newSubManager(); GradBuckets grads = trainer.gradients(scratch)) {
                return grads.bucket(0).toFloatArray();
            }
        }
    }

    // Regression: DJL's x.mul(Number) frees its scalar operand's memory at the next GC while the autograd graph still
    // reads it (see Scalars); gradients then changed with GC timing (data-parallel ranks drifted from one rank).
    @Test
    void gradientsDoNotDependOnGarbageCollectionTiming() throws InterruptedException {
        float[] quiet = gradientOfOneStep();
        AtomicBoolean stop = new AtomicBoolean();
        Thread collector = new Thread(() -> {
            while (!stop.get()) {
                System.gc(); // frees every unreachable direct buffer at once, between forward and backward too
            }
        });
        collector.start();
        try {
            for (int repeat = 0; repeat < 2; repeat++) {
                assertArrayEqualsBits(quiet, gradientOfOneStep());
            }
        } finally {
            stop.set(true);
            collector.join();
        }
    }

    private static void assertArrayEqualsBits(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToIntBits(expected[i]), Float.floatToIntBits(actual[i]), "index " + i);
        }
    }
}
