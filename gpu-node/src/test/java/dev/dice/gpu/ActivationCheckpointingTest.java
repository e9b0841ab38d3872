package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Checkpointed decoder layers give the gradients plain ones give, through the trainer's SFT and DPO steps. */
class ActivationCheckpointingTest {
    private static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager();
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    private static final List<int[]> PROMPTS = List.of(new int[] {1, 4, 5}, new int[] {1, 6}, new int[] {1, 4, 5},
            new int[] {1, 6});
    private static final List<int[]> RESPONSES = List.of(new int[] {7, 8, 2}, new int[] {9, 2}, new int[] {10, 2},
            new int[] {11, 12, 13, 2});

    /** Every parameter's gradient after {@code pass} on a fresh trainer of the same model, then zeroed. */
    private static Map<String, float[]> gradients(Llama model, boolean checkpointing, Consumer<Trainer> pass) {
        model.checkpointActivations(checkpointing);
        Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(0, 1), 0));
        pass.accept(trainer);
        Map<String, float[]> out = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> {
            out.put(name, Autograd.gradient(p).toFloatArray());
            Autograd.zeroGradient(p);
        });
        model.checkpointActivations(false);
        return out;
    }

    private static void assertSameGradients(Map<String, float[]> plain, Map<String, float[]> checkpointed) {
        double largest = 0;
        for (Map.Entry<String, float[]> e : plain.entrySet()) {
            float[] a = e.getValue();
            float[] b = checkpointed.get(e.getKey());
            for (int i = 0; i < a.length; i++) {
                largest = Math.max(largest, Math.abs(a[i]));
                assertEquals(a[i], b[i], 1e-6 + 1e-4 * Math.abs(a[i]), e.getKey() + "[" + i + "]");
            }
        }
        assertTrue(largest > 1e-4, "gradients should not all vanish: " + largest);
    }

    @Test
    void sftGradientsEqualPlainLayers() {
        try (Llama model = TinyModels.model(root, 11)) {
            SequenceBatch batch = SequenceBatch.of(PROMPTS, RESPONSES, 0);
            assertSameGradients(gradients(model, false, t -> t.sft(batch, 0.5)),
                    gradients(model, true, t -> t.sft(batch, 0.5)));
        }
    }

    @Test
    void layersGetTheirGradientsOnlyFromTheRecomputation() {
        try (Llama model = TinyModels.model(root, 13)) {
            SequenceBatch batch = SequenceBatch.of(PROMPTS, RESPONSES, 0);
            model.checkpointActivations(true);
            model.requireGradients();
            try (ai.djl.ndarray.NDScope scope = new ai.djl.ndarray.NDScope()) {
                Autograd.backward(Autograd.recording(() -> batch.responseLogProbs(model).sum().neg()));
                String q = "model.layers.0.self_attn.q_proj.weight";
                ai.djl.ndarray.NDArray before = Autograd.gradient(model.parameters().get(q));
                assertTrue(before == null || before.abs().sum().getFloat() == 0, "no layer gradient before");
                assertTrue(Autograd.gradient(model.parameters().get("lm_head.weight")).abs().sum().getFloat() > 0);
                model.backwardCheckpoints();
                assertTrue(Autograd.gradient(model.parameters().get(q)).abs().sum().getFloat() > 0);
                assertTrue(Autograd.gradient(model.parameters().get("model.embed_tokens.weight")).abs().sum()
                        .getFloat() > 0);
            }
        }
    }

    @Test
    void dpoGradientsEqualPlainLayers() {
        try (Llama model = TinyModels.model(root, 12)) {
            SequenceBatch pairs = SequenceBatch.of(PROMPTS, RESPONSES, 0);
            float[] rc = {-7.5f, -4.0f};
            float[] rr = {-5.0f, -6.5f};
            assertSameGradients(gradients(model, false, t -> t.dpo(pairs, rc, rr, 0.5, 1.0)),
                    gradients(model, true, t -> t.dpo(pairs, rc, rr, 0.5, 1.0)));
        }
    }
}
