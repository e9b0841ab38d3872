package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW with PyTorch's exact update (decoupled weight decay, bias-corrected moments, ε outside the square
 * root). Weight decay applies to matrices only, not to norm gains (nanoGPT's rule). Updates run in place
 * with autograd off.
 *
 * <p>The moments are kept flat, laid out like the gradient buckets, so the update is a handful of passes over a
 * few long buffers rather than the same ops on every small parameter (PyTorch's "foreach" idea); each parameter
 * then takes its slice of the update. They are created on the parameters' manager at the first step.
 */
public final class AdamW implements Optimizer {
    public record Settings(double beta1, double beta2, double eps, double weightDecay) {
        public static Settings defaults() {
            return new Settings(0.9, 0.999, 1e-8, 0.0);
        }
    }

    /** Both moments of one bucket's parameters, flat, and each parameter's view of them. */
    private record Moments(List<String> names, NDArray avg, NDArray avgSq, Map<String, NDArray> avgOf,
            Map<String, NDArray> avgSqOf) {}

    private final Settings settings;
    private final List<Moments> moments = new ArrayList<>();
    private Map<String, NDArray> restored = Map.of(); // per-parameter moments waiting for the first step
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
        if (settings.weightDecay() > 0) {
            params.values().stream().filter(p -> p.getShape().dimension() >= 2)
                    .forEach(p -> p.muli(1 - lr * settings.weightDecay()));
        }
        for (int i = 0; i < grads.size(); i++) {
            NDArray g = grads.bucket(i);
            Moments mv = moments(i, grads.names(i), params);
            try (NDArray gScaled = g.mul(1 - b1); NDArray g2 = g.square().muli(1 - b2)) {
                mv.avg().muli(b1).addi(gScaled);
                mv.avgSq().muli(b2).addi(g2);
            }
            try (NDArray denom = mv.avgSq().sqrt().divi(correction2Sqrt).addi(settings.eps());
                    NDArray update = mv.avg().div(denom).muli(lr / correction1)) {
                long offset = 0;
                for (String name : mv.names()) {
                    NDArray p = params.get(name);
                    try (NDArray slice = update.get(offset + ":" + (offset + p.size()));
                            NDArray u = slice.reshape(p.getShape())) {
                        p.subi(u);
                    }
                    offset += p.size();
                }
            }
        }
        restored.values().forEach(NDArray::close); // copied into the flat moments
        restored = Map.of();
    }

    /** The flat moments of bucket {@code i}: made at the first step, from restored state or zeros. */
    private Moments moments(int i, List<String> names, Map<String, NDArray> params) {
        if (i < moments.size()) {
            if (!moments.get(i).names().equals(names)) {
                throw new IllegalStateException("gradient buckets changed layout between optimizer steps");
            }
            return moments.get(i);
        }
        NDManager owner = params.get(names.get(0)).getManager();
        NDArray avg = flat(names, "exp_avg.", params, owner);
        NDArray avgSq = flat(names, "exp_avg_sq.", params, owner);
        Map<String, NDArray> avgOf = new LinkedHashMap<>();
        Map<String, NDArray> avgSqOf = new LinkedHashMap<>();
        long offset = 0;
        for (String name : names) {
            NDArray p = params.get(name);
            avgOf.put(name, view(avg, offset, p, owner));
            avgSqOf.put(name, view(avgSq, offset, p, owner));
            offset += p.size();
        }
        Moments made = new Moments(List.copyOf(names), avg, avgSq, avgOf, avgSqOf);
        moments.add(made);
        return made;
    }

    private NDArray flat(List<String> names, String prefix, Map<String, NDArray> params, NDManager owner) {
        NDList parts = new NDList();
        for (String name : names) {
            NDArray r = restored.get(prefix + name);
            // zeros made flat: a flattened view's close would leave the tensor under it alive on the model's manager
            parts.add(r == null ? owner.zeros(new Shape(params.get(name).size())) : r.flatten());
        }
        NDArray flat = NDArrays.concat(parts);
        flat.attach(owner);
        parts.forEach(NDArray::close);
        return flat;
    }

    private static NDArray view(NDArray flat, long offset, NDArray like, NDManager owner) {
        try (NDArray slice = flat.get(offset + ":" + (offset + like.size()))) {
            NDArray v = slice.reshape(like.getShape());
            v.attach(owner);
            return v;
        }
    }

    @Override
    public int steps() {
        return steps;
    }

    @Override
    public long bytes() {
        return moments.stream().mapToLong(m -> 2L * MemoryPlan.FLOAT * m.avg().size()).sum();
    }

    /** Moments under PyTorch's state names, for checkpoints (views of the flat moments, or the restored ones). */
    @Override
    public Map<String, NDArray> state() {
        if (moments.isEmpty()) {
            return new LinkedHashMap<>(restored);
        }
        Map<String, NDArray> state = new LinkedHashMap<>();
        moments.forEach(m -> m.avgOf().forEach((n, a) -> state.put("exp_avg." + n, a)));
        moments.forEach(m -> m.avgSqOf().forEach((n, a) -> state.put("exp_avg_sq." + n, a)));
        return state;
    }

    /** Restores moments saved by {@link #state} and the step count that drives bias correction. */
    @Override
    public void restore(Map<String, NDArray> state, int steps, Map<String, NDArray> params) {
        Map<String, NDArray> pending = new LinkedHashMap<>();
        params.forEach((name, p) -> {
            NDArray m = state.get("exp_avg." + name);
            NDArray v = state.get("exp_avg_sq." + name);
            if (m == null || v == null) {
                throw new BadInputException("optimizer state: missing moments for '" + name + "'");
            }
            m.attach(p.getManager());
            v.attach(p.getManager());
            pending.put("exp_avg." + name, m);
            pending.put("exp_avg_sq." + name, v);
        });
        this.steps = steps;
        this.restored = pending;
        moments.clear();
    }
}
