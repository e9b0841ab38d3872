package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.ObjIntConsumer;

/**
 * AdamW over one rank's part of every gradient bucket (ZeRO): the moments exist for those floats only, and a step
 * turns the part's mean gradient into the part's new weights, which the caller gathers into every replica. The update
 * is {@link AdamW}'s, element for element (decoupled weight decay on matrices only, bias-corrected moments), so R ranks
 * with their parts compute what one AdamW computes on the whole buckets.
 *
 * <p>A rank's moments belong to its place in its ring: {@link #bind} refuses moments restored from another rank or
 * ring size, because the other parts of them were held by other ranks (and, when the ring lost a trainer, are gone).
 */
public final class ShardedAdamW implements Optimizer {
    /** Floats [{@code from}, {@code from + count}) of the bucket holding the gradients of {@code names}, in order. */
    public record Part(List<String> names, long from, int count) {}

    private static final String PLACE = "zero.place";

    private record Moments(Part part, NDArray avg, NDArray avgSq) {}

    private final AdamW.Settings settings;
    private final List<Moments> moments = new ArrayList<>();
    private Map<String, NDArray> restored = Map.of(); // moments waiting for the first step
    private NDArray place; // [rank, world]
    private int rank = -1;
    private int world;
    private int steps;

    public ShardedAdamW(AdamW.Settings settings) {
        this.settings = settings;
    }

    /**
     * Takes this optimizer's place: rank {@code rank} of {@code world}.
     *
     * @throws IllegalStateException if its moments were restored from another place
     */
    public void bind(int rank, int world) {
        NDArray saved = restored.get(PLACE);
        if (saved != null) {
            int[] was = saved.toIntArray();
            if (was[0] != rank || was[1] != world) {
                throw new IllegalStateException("ZeRO cannot resume this stage: rank " + was[0] + " of " + was[1]
                        + " held 1/" + was[1] + " of the optimizer moments, the ring re-formed it as rank " + rank
                        + " of " + world + ", and the parts of the trainers that left are gone (a ring that must "
                        + "survive a lost trainer mid-stage needs dice.train.zero-stage = 0)");
            }
        }
        if (this.rank >= 0 && (this.rank != rank || this.world != world)) {
            throw new IllegalStateException("ZeRO: rank " + this.rank + " of " + this.world + " cannot step as rank "
                    + rank + " of " + world + " without its moments");
        }
        this.rank = rank;
        this.world = world;
    }

    /**
     * One step of this rank's parts. {@code grads.get(i)} is the ranks' mean gradient over {@code parts.get(i)}
     * (clipped); the part's new weights go to {@code updated} with the part's index, a tensor of {@code count} floats
     * that is closed once {@code updated} returns.
     */
    public void step(Map<String, NDArray> params, List<Part> parts, List<NDArray> grads, double lr,
            ObjIntConsumer<NDArray> updated) {
        if (rank < 0) {
            throw new IllegalStateException("ShardedAdamW: bind it to its rank before the first step");
        }
        Autograd.off();
        steps++;
        double b1 = settings.beta1();
        double b2 = settings.beta2();
        double correction1 = 1 - Math.pow(b1, steps);
        double correction2Sqrt = Math.sqrt(1 - Math.pow(b2, steps));
        for (int i = 0; i < parts.size(); i++) {
            Moments mv = moments(i, parts.get(i), params);
            if (mv.part().count() == 0) {
                updated.accept(null, i);
                continue;
            }
            NDArray g = grads.get(i);
            try (NDArray w = weights(mv.part(), params, lr)) {
                try (NDArray gScaled = g.mul(1 - b1); NDArray g2 = g.square().muli(1 - b2)) {
                    mv.avg().muli(b1).addi(gScaled);
                    mv.avgSq().muli(b2).addi(g2);
                }
                try (NDArray denom = mv.avgSq().sqrt().divi(correction2Sqrt).addi(settings.eps());
                        NDArray update = mv.avg().div(denom).muli(lr / correction1)) {
                    w.subi(update);
                }
                updated.accept(w, i);
            }
        }
        restored.values().forEach(NDArray::close); // copied into the moments
        restored = Map.of();
    }

    /** A copy of the part's current weights, matrices decayed by 1 − lr·λ (AdamW's decoupled weight decay). */
    private NDArray weights(Part part, Map<String, NDArray> params, double lr) {
        NDArray w;
        List<long[]> decayed = new ArrayList<>();
        try (NDScope scope = new NDScope()) {
            NDList pieces = new NDList();
            long start = 0;
            for (String name : part.names()) {
                NDArray p = params.get(name);
                long from = Math.max(start, part.from());
                long to = Math.min(start + p.size(), part.from() + part.count());
                if (from < to) {
                    pieces.add(p.reshape(-1).get((from - start) + ":" + (to - start)));
                    if (p.getShape().dimension() >= 2) {
                        decayed.add(new long[] {from - part.from(), to - part.from()});
                    }
                }
                start += p.size();
            }
            w = NDArrays.concat(pieces);
            NDScope.unregister(w);
        }
        if (settings.weightDecay() > 0) {
            for (long[] range : decayed) {
                try (NDArray view = w.get(range[0] + ":" + range[1])) {
                    view.muli(1 - lr * settings.weightDecay());
                }
            }
        }
        return w;
    }

    /** The moments of part {@code i}: made at the first step, from restored state or zeros. */
    private Moments moments(int i, Part part, Map<String, NDArray> params) {
        if (i < moments.size()) {
            if (!moments.get(i).part().equals(part)) {
                throw new IllegalStateException("gradient buckets changed layout between optimizer steps");
            }
            return moments.get(i);
        }
        NDManager owner = params.get(part.names().get(0)).getManager();
        if (place == null) {
            place = owner.create(new int[] {rank, world});
        }
        Moments made = new Moments(part, moment("exp_avg.part" + i, part, owner),
                moment("exp_avg_sq.part" + i, part, owner));
        moments.add(made);
        return made;
    }

    private NDArray moment(String key, Part part, NDManager owner) {
        NDArray saved = restored.get(key);
        if (saved == null) {
            return owner.zeros(new ai.djl.ndarray.types.Shape(part.count()));
        }
        if (saved.size() != part.count()) {
            throw new IllegalStateException("optimizer state: " + key + " holds " + saved.size() + " floats, the part "
                    + "it belongs to " + part.count() + " (a different bucket size?)");
        }
        restored.remove(key); // the moments' own from now on
        return saved;
    }

    @Override
    public int steps() {
        return steps;
    }

    @Override
    public long bytes() {
        return moments.stream().mapToLong(m -> 2L * MemoryPlan.FLOAT * m.part().count()).sum();
    }

    /** Each part's moments ({@code exp_avg.part<i>}, {@code exp_avg_sq.part<i>}) and this rank's place. */
    @Override
    public Map<String, NDArray> state() {
        if (moments.isEmpty()) {
            return new LinkedHashMap<>(restored);
        }
        Map<String, NDArray> state = new LinkedHashMap<>();
        for (int i = 0; i < moments.size(); i++) {
            state.put("exp_avg.part" + i, moments.get(i).avg());
            state.put("exp_avg_sq.part" + i, moments.get(i).avgSq());
        }
        state.put(PLACE, place);
        return state;
    }

    @Override
    public void restore(Map<String, NDArray> state, int steps, Map<String, NDArray> params) {
        if (!state.containsKey(PLACE)) {
            throw new BadInputException("optimizer state: not a ZeRO rank's part (no " + PLACE + ")");
        }
        NDManager owner = params.values().iterator().next().getManager();
        state.values().forEach(t -> t.attach(owner));
        this.restored = new LinkedHashMap<>(state);
        this.steps = steps;
        this.rank = -1;
        moments.clear();
    }
}
