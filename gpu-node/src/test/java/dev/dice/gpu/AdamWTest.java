package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The flat AdamW against PyTorch's update written out per element, over several buckets and steps. */
class AdamWTest {
    private static final double LR = 0.01;
    private static final AdamW.Settings ADAM = new AdamW.Settings(0.9, 0.999, 1e-8, 0.1);
    private static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager(Device.cpu());
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    @Test
    void everyParameterFollowsTheReferenceUpdate() {
        try (Llama model = TinyModels.model(root, 41)) {
            Trainer trainer = trainer(model);
            Map<String, double[]> p = snapshot(model);
            Map<String, double[]> m = new HashMap<>();
            Map<String, double[]> v = new HashMap<>();
            for (int step = 1; step <= 3; step++) {
                trainer.sft(batch(step), 1.0);
                Map<String, float[]> g = new HashMap<>();
                try (NDManager scratch = root.newSubManager(); GradBuckets grads = trainer.gradients(scratch)) {
                    assertTrue(grads.size() > 1, "small buckets split the model");
                    model.parameters().keySet().forEach(n -> g.put(n, grads.gradient(n).toFloatArray()));
                    trainer.apply(grads);
                }
                for (String name : p.keySet()) {
                    reference(name, p.get(name), g.get(name), m.computeIfAbsent(name, k -> new double[g.get(k).length]),
                            v.computeIfAbsent(name, k -> new double[g.get(k).length]), step,
                            model.parameters().get(name).getShape().dimension() >= 2);
                }
            }
            model.parameters().forEach((name, param) -> {
                float[] actual = param.toFloatArray();
                for (int i = 0; i < actual.length; i++) {
                    assertEquals(p.get(name)[i], actual[i], 1e-6, name + "[" + i + "]");
                }
            });
        }
    }

    /** The first step leaves the two flat moments per bucket and each parameter's views of them, nothing else. */
    @Test
    void theFirstStepKeepsOnlyTheMoments() {
        try (Llama model = TinyModels.model(root, 43)) {
            Trainer trainer = trainer(model);
            int params = model.parameters().size();
            int buckets;
            trainer.sft(batch(1), 1.0);
            int before = model.manager().getManagedArrays().size();
            try (NDManager scratch = root.newSubManager(); GradBuckets grads = trainer.gradients(scratch)) {
                buckets = grads.size();
                trainer.apply(grads);
            }
            int after = model.manager().getManagedArrays().size();
            assertEquals(2 * buckets + 2 * params, after - before, "flat moments and their per-parameter views");
            trainer.sft(batch(2), 1.0);
            trainer.step();
            assertEquals(after, model.manager().getManagedArrays().size(), "later steps keep nothing more");
        }
    }

    @Test
    void restoredStateContinuesExactly() {
        try (Llama a = TinyModels.model(root, 42); Llama b = TinyModels.model(root, 42)) {
            Trainer straight = trainer(a);
            Trainer resumed = trainer(b);
            for (int step = 1; step <= 2; step++) {
                straight.sft(batch(step), 1.0);
                straight.step();
                resumed.sft(batch(step), 1.0);
                resumed.step();
            }
            Map<String, NDArray> saved = new LinkedHashMap<>();
            resumed.optimizer().state().forEach((n, t) -> saved.put(n, t.duplicate()));
            Trainer again = trainer(b);
            again.optimizer().restore(saved, resumed.optimizer().steps(), b.parameters());
            straight.sft(batch(3), 1.0);
            straight.step();
            again.sft(batch(3), 1.0);
            again.step();
            a.parameters().forEach((name, param) -> {
                float[] x = param.toFloatArray();
                float[] y = b.parameters().get(name).toFloatArray();
                for (int i = 0; i < x.length; i++) {
                    assertEquals(Float.floatToIntBits(x[i]), Float.floatToIntBits(y[i]), name + "[" + i + "]");
                }
            });
        }
    }

    /** PyTorch's AdamW for one tensor: decoupled decay (matrices only), bias-corrected moments, ε outside the root. */
    private static void reference(String name, double[] p, float[] g, double[] m, double[] v, int step, boolean decay) {
        double c1 = 1 - Math.pow(ADAM.beta1(), step);
        double c2 = 1 - Math.pow(ADAM.beta2(), step);
        for (int i = 0; i < p.length; i++) {
            if (decay) {
                p[i] *= 1 - LR * ADAM.weightDecay();
            }
            m[i] = ADAM.beta1() * m[i] + (1 - ADAM.beta1()) * g[i];
            v[i] = ADAM.beta2() * v[i] + (1 - ADAM.beta2()) * g[i] * g[i];
            p[i] -= LR / c1 * m[i] / (Math.sqrt(v[i]) / Math.sqrt(c2) + ADAM.eps());
        }
    }

    private static Trainer trainer(Llama model) {
        return new Trainer(model, new Trainer.Settings(LrSchedule.constant(LR, 1), ADAM, 0, 4096));
    }

    private static SequenceBatch batch(int step) {
        return SequenceBatch.of(List.of(new int[] {1, 4, step}, new int[] {1, 9}),
                List.of(new int[] {5, 2, 7}, new int[] {step + 10, 2}), 0);
    }

    private static Map<String, double[]> snapshot(Llama model) {
        Map<String, double[]> out = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> {
            float[] f = p.toFloatArray();
            double[] d = new double[f.length];
            for (int i = 0; i < f.length; i++) {
                d[i] = f[i];
            }
            out.put(name, d);
        });
        return out;
    }
}
