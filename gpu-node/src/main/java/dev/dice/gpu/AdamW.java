package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * AdamW with PyTorch's exact update (decoupled weight decay, bias-corrected moments, ε outside the square
 * root). Weight decay applies to matrices only, not to norm gains (nanoGPT's rule). Updates run in place
 * with autograd off; the moments are created lazily on the parameters' manager.
 */
public final class AdamW {
    public record Settings(double beta1, double beta2, double eps, double weightDecay) {
        public static Settings defaults() {
            return new Settings(0.9, 0.999, 1e-8, 0.0);
        }
    }

    private final Settings settings;
    private final Map<String, NDArray> expAvg = new LinkedHashMap<>();
    private final Map<String, NDArray> expAvgSq = new LinkedHashMap<>();
    private int steps;

    public AdamW(Settings settings) {
        this.settings = settings;
    }

    /** One update of every parameter with the gradients in {@code grads}. */
    public void step(Map<String, NDArray> params, GradBuckets grads, double lr) {
        Autograd.off();
        steps++;
        double b1 = settings.beta1();
        double b2 = settings.beta2();
        double correction1 = 1 - Math.pow(b1, steps);
        double correction2Sqrt = Math.sqrt(1 - Math.pow(b2, steps));
        params.forEach((name, p) -> {
            NDArray g = grads.gradient(name);
            NDManager owner = p.getManager();
            NDArray m = expAvg.computeIfAbsent(name, k -> owner.zeros(p.getShape()));
            NDArray v = expAvgSq.computeIfAbsent(name, k -> owner.zeros(p.getShape()));
            if (settings.weightDecay() > 0 && p.getShape().dimension() >= 2) {
                p.muli(1 - lr * settings.weightDecay());
            }
            try (NDArray gScaled = g.mul(1 - b1); NDArray g2 = g.square().muli(1 - b2)) {
                m.muli(b1).addi(gScaled);
                v.muli(b2).addi(g2);
            }
            try (NDArray denom = v.sqrt().divi(correction2Sqrt).addi(settings.eps());
                    NDArray update = m.div(denom).muli(lr / correction1)) {
                p.subi(update);
            }
        });
    }

    public int steps() {
        return steps;
    }

    /** Moments under PyTorch's state names, for checkpoints. */
    public Map<String, NDArray> state() {
        Map<String, NDArray> state = new LinkedHashMap<>();
        expAvg.forEach((n, a) -> state.put("exp_avg." + n, a));
        expAvgSq.forEach((n, a) -> state.put("exp_avg_sq." + n, a));
        return state;
    }

    /** Restores moments saved by {@link #state} and the step count that drives bias correction. */
    public void restore(Map<String, NDArray> state, int steps, Map<String, NDArray> params) {
        this.steps = steps;
        params.forEach((name, p) -> {
            NDArray m = state.get("exp_avg." + name);
            NDArray v = state.get("exp_avg_sq." + name);
            if (m == null || v == null) {
                throw new BadInputException("optimizer state: missing moments for '" + name + "'");
            }
            m.attach(p.getManager());
            v.attach(p.getManager());
            expAvg.put(name, m);
            expAvgSq.put(name, v);
        });
    }
}
