package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Packing SFT rows end to end must not change a single log-prob or gradient, only the padding. */
class PackedBatchTest {
    static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    /** Ragged rows: one long, several short, one without a response; five sequences fit in fewer rows. */
    private static SequenceBatch ragged() {
        return SequenceBatch.of(
                List.of(new int[] {1, 4, 5, 9, 3, 3, 7}, new int[] {1, 6}, new int[] {1, 8, 8}, new int[] {1, 2},
                        new int[] {1, 5, 4}),
                List.of(new int[] {7, 8, 2}, new int[] {9, 2}, new int[] {10}, new int[] {}, new int[] {11, 12, 13, 2}),
                0);
    }

    @Test
    void packedSumEqualsThePaddedOne() {
        try (Llama model = TinyModels.model(root, 21); NDScope scope = new NDScope()) {
            Autograd.off();
            SequenceBatch batch = ragged();
            PackedBatch packed = PackedBatch.of(batch, 12);
            assertTrue(packed.rows() < batch.rows(), "packed into " + packed.rows() + " rows");
            float padded = batch.responseLogProbs(model).sum().getFloat();
            assertEquals(padded, packed.responseLogProbSum(model).getFloat(), 1e-4 * Math.abs(padded));
        }
    }

    @Test
    void packedGradientsEqualThePaddedOnes() {
        try (Llama model = TinyModels.model(root, 22)) {
            model.requireGradients();
            SequenceBatch batch = ragged();
            Map<String, float[]> padded = TinyModels.gradients(model, () -> batch.responseLogProbs(model).sum());
            Map<String, float[]> packed = TinyModels.gradients(model, () -> PackedBatch.of(batch, 12).responseLogProbSum(model));
            padded.forEach((name, g) -> {
                float[] h = packed.get(name);
                for (int i = 0; i < g.length; i++) {
                    assertEquals(g[i], h[i], 1e-4 + 1e-3 * Math.abs(g[i]), name + "[" + i + "]");
                }
            });
        }
    }

    @Test
    void theWidthGrowsToTheLongestSequence() {
        try (Llama model = TinyModels.model(root, 23); NDScope scope = new NDScope()) {
            Autograd.off();
            SequenceBatch batch = ragged();
            PackedBatch packed = PackedBatch.of(batch, 2);
            // lengths 10, 4, 4, 7 (the row without a response is dropped) in rows of 10: 10 | 7 | 4 + 4
            assertEquals(3, packed.rows());
            assertEquals(batch.responseLogProbs(model).sum().getFloat(), packed.responseLogProbSum(model).getFloat(), 1e-3);
        }
    }

    @Test
    void rowsThatCannotShareAContextRowKeepTheirOwnWidth() {
        // three sequences of 7 tokens: one per row either way, so rows of 12 would only add padding
        SequenceBatch batch = SequenceBatch.of(List.of(new int[] {1, 4, 5}, new int[] {1, 6, 6}, new int[] {1, 8, 8}),
                List.of(new int[] {7, 8, 2, 2}, new int[] {9, 2, 3, 4}, new int[] {10, 5, 5, 5}), 0);
        PackedBatch packed = PackedBatch.of(batch, 12);
        assertEquals(3, packed.rows());
        assertEquals(7, packed.width());
        // ragged lengths 10, 4, 4, 7 fill rows of 14 better (10 + 4 | 7 + 4: 28 slots) than rows of 10 (30)
        assertEquals(14, PackedBatch.of(ragged(), 14).width());
        assertEquals(2, PackedBatch.of(ragged(), 14).rows());
    }
}
