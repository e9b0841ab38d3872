package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Rows that share a prompt (DPO pairs, a prompt's K sampled responses) run it once: log-probs and gradients must equal
 * the plain full-batch pass.
 */
class SharedPromptTest {
    static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    /** Two pairs with different prompt lengths and ragged responses (one of a single token). */
    private static SequenceBatch pairs() {
        int[] p0 = {1, 4, 5, 9};
        int[] p1 = {1, 6};
        return SequenceBatch.of(List.of(p0, p1, p0, p1),
                List.of(new int[] {7, 8, 2}, new int[] {9, 2}, new int[] {10}, new int[] {11, 12, 13, 2}), 0);
    }

    @Test
    void pairedLogProbsEqualPlainOnes() {
        try (Llama model = TinyModels.model(root, 11); NDScope scope = new NDScope()) {
            Autograd.off();
            SequenceBatch batch = pairs();
            float[] plain = batch.responseLogProbs(model).toFloatArray();
            float[] paired = batch.sharedPromptLogProbs(model).toFloatArray();
            assertArrayEquals(plain, paired, 1e-4f);
        }
    }

    /** A scorer's batch: K sampled responses per prompt, groups of different sizes, ragged lengths. */
    @Test
    void promptsSharedByManyRowsGiveThePlainLogProbs() {
        try (Llama model = TinyModels.model(root, 14); NDScope scope = new NDScope()) {
            Autograd.off();
            int[] p0 = {1, 4, 5, 9, 3, 3};
            int[] p1 = {1, 6};
            int[] p2 = {1, 7, 7};
            java.util.Random random = new java.util.Random(3);
            List<int[]> prompts = new java.util.ArrayList<>();
            List<int[]> responses = new java.util.ArrayList<>();
            for (int[] p : List.of(p0, p0, p0, p1, p2, p1, p2, p2, p2, p0)) {
                prompts.add(p);
                responses.add(random.ints(1 + random.nextInt(7), 3, 32).toArray());
            }
            SequenceBatch batch = SequenceBatch.of(prompts, responses, 0);
            float[] plain = batch.responseLogProbs(model).toFloatArray();
            float[] shared = batch.sharedPromptLogProbs(model).toFloatArray();
            assertArrayEquals(plain, shared, 1e-5f);
        }
    }

    @Test
    void differentPromptsFallBackToThePlainPass() {
        try (Llama model = TinyModels.model(root, 12); NDScope scope = new NDScope()) {
            Autograd.off();
            SequenceBatch batch = SequenceBatch.of(List.of(new int[] {1, 4}, new int[] {1, 5}),
                    List.of(new int[] {7, 2}, new int[] {8, 2}), 0);
            assertArrayEquals(batch.responseLogProbs(model).toFloatArray(),
                    batch.sharedPromptLogProbs(model).toFloatArray(), 0f);
        }
    }

    @Test
    void pairedGradientsEqualPlainOnes() {
        try (Llama model = TinyModels.model(root, 13)) {
            model.requireGradients();
            SequenceBatch batch = pairs();
            Map<String, float[]> plain = gradients(model, () -> batch.responseLogProbs(model));
            Map<String, float[]> paired = gradients(model, () -> batch.sharedPromptLogProbs(model));
            plain.forEach((name, g) -> {
                float[] h = paired.get(name);
                for (int i = 0; i < g.length; i++) {
                    assertEquals(g[i], h[i], 1e-4 + 1e-3 * Math.abs(g[i]), name + "[" + i + "]");
                }
            });
        }
    }

    /** Row weights that differ per row, so a mix-up of rows would show. */
    private static Map<String, float[]> gradients(Llama model, java.util.function.Supplier<NDArray> logProbs) {
        return TinyModels.gradients(model,
                () -> logProbs.get().mul(model.manager().create(new float[] {1, -2, 3, 0.5f})).sum());
    }
}
