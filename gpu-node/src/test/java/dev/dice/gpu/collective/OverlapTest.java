package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.dice.gpu.AdamW;
import dev.dice.gpu.Autograd;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.LrSchedule;
import dev.dice.gpu.SequenceBatch;
import dev.dice.gpu.Trainer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Gradient buckets all-reduced while backward runs ({@link DataParallel#step(Runnable)}) give the weights of buckets
 * all-reduced after it ({@link DataParallel#step()}), bit for bit, on a ring over gRPC.
 */
class OverlapTest {
    static {
        Ranks.quietTransport();
    }

    private static final LlamaConfig TINY = new LlamaConfig(32, 32, 64, 3, 4, 2, 32, 1e-5, 10000.0, false, 1, 2);
    private static final long SEED = 17;
    private static final int PAIRS = 18; // the global batch: R = 2 or 3 ranks, 3 micro-batches each
    private static final int MICRO = 3;
    private static final int STEPS = 3;
    private static final long BUCKET_BYTES = 8 << 10; // many buckets, several per decoder layer
    private static final RingAllReduce.Settings RING = RingAllReduce.Settings.of(Duration.ofSeconds(20))
            .withChunkBytes(4096);

    /** Pair i: a prompt of at least two tokens (so chosen and rejected share its cached prefix), two responses. */
    private record Pairs(List<int[]> prompts, List<int[]> chosen, List<int[]> rejected, float[] refChosen,
            float[] refRejected) {
        static Pairs random(int n) {
            Random rng = new Random(9);
            Pairs p = new Pairs(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new float[n], new float[n]);
            for (int i = 0; i < n; i++) {
                p.prompts.add(rng.ints(2 + rng.nextInt(4), 3, 32).toArray());
                p.chosen.add(rng.ints(1 + rng.nextInt(5), 3, 32).toArray());
                p.rejected.add(rng.ints(1 + rng.nextInt(5), 3, 32).toArray());
                p.refChosen[i] = (float) (-3 - 4 * rng.nextDouble());
                p.refRejected[i] = (float) (-3 - 4 * rng.nextDouble());
            }
            return p;
        }

        /** DPO on pairs [from, to) with weight {@code weight}, accumulating into the trainer's gradients. */
        void dpo(Trainer t, int from, int to, double weight) {
            List<int[]> ps = new ArrayList<>(prompts.subList(from, to));
            ps.addAll(prompts.subList(from, to));
            List<int[]> rs = new ArrayList<>(chosen.subList(from, to));
            rs.addAll(rejected.subList(from, to));
            t.dpo(SequenceBatch.of(ps, rs, 0), Arrays.copyOfRange(refChosen, from, to),
                    Arrays.copyOfRange(refRejected, from, to), 0.5, weight);
        }
    }

    private static Trainer trainer(NDManager root, boolean checkpointing) {
        Llama model = Llama.init(TINY, root.newSubManager(), SEED);
        model.checkpointActivations(checkpointing);
        return new Trainer(model,
                new Trainer.Settings(LrSchedule.constant(1e-3, 1), AdamW.Settings.defaults(), 1.0, BUCKET_BYTES));
    }

    private static Map<String, float[]> weights(Llama model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> out.put(name, p.toFloatArray()));
        return out;
    }

    /** Every rank's weights after {@link #STEPS} steps of {@link #MICRO} micro-batches each. */
    private static List<Map<String, float[]>> train(Pairs pairs, int world, boolean overlap, boolean checkpointing) {
        List<String> members = Ranks.loopback(world);
        int shard = PAIRS / world;
        int micro = shard / MICRO;
        return Ranks.all(Ranks.run(world, rank -> {
            try (NDManager root = NDManager.newBaseManager();
                    RingAllReduce ring = new RingAllReduce(members, rank, RING.withRingId("overlap" + world))) {
                Trainer t = trainer(root, checkpointing);
                DataParallel dp = new DataParallel(t, ring, 1, Collective.Precision.FP32, DataParallel.Traffic.NONE,
                        overlap);
                for (int s = 0; s < STEPS; s++) {
                    int from = rank * shard;
                    for (int m = 0; m < MICRO - 1; m++, from += micro) {
                        pairs.dpo(t, from, from + micro, 1.0 / MICRO);
                    }
                    int last = from;
                    dp.step(() -> pairs.dpo(t, last, last + micro, 1.0 / MICRO));
                }
                return weights(t.model());
            }
        }), 180);
    }

    @Test
    void overlappedStepsGiveTheWeightsOfStepsThatReduceAfterBackward() {
        Pairs pairs = Pairs.random(PAIRS);
        Map<String, float[]> initial;
        try (NDManager root = NDManager.newBaseManager()) {
            initial = weights(trainer(root, false).model());
        }
        for (boolean checkpointing : new boolean[] {false, true}) {
            for (int world : new int[] {2, 3}) {
                String run = "R=" + world + (checkpointing ? ", checkpointing" : "");
                Map<String, float[]> expected = train(pairs, world, false, checkpointing).get(0);
                List<Map<String, float[]>> ranks = train(pairs, world, true, checkpointing);
                double moved = 0;
                for (String name : expected.keySet()) {
                    for (int r = 0; r < world; r++) {
                        assertTrue(Arrays.equals(expected.get(name), ranks.get(r).get(name)),
                                run + ": overlapped rank " + r + " differs in " + name);
                    }
                    float[] e = expected.get(name);
                    for (int i = 0; i < e.length; i++) {
                        moved = Math.max(moved, Math.abs(e[i] - initial.get(name)[i]));
                    }
                }
                System.out.printf("%s: overlapped = not overlapped, bit for bit, on every rank (weights moved up to"
                        + " %.3g)%n", run, moved);
                assertTrue(moved > 1e-3, run + ": training moved the weights (" + moved + ")");
            }
        }
    }

    @Test
    void bucketsLeaveInOrderWhileBackwardHasNotReachedTheFirstLayer() {
        Pairs pairs = Pairs.random(PAIRS);
        try (NDManager root = NDManager.newBaseManager(); NDManager scratch = root.newSubManager()) {
            Trainer t = trainer(root, false);
            NDArray firstLayer = t.model().parameters().get("model.layers.0.mlp.down_proj.weight");
            List<Integer> order = new ArrayList<>();
            List<Boolean> firstLayerDone = new ArrayList<>();
            GradBuckets grads = t.gradients(scratch, () -> pairs.dpo(t, 0, 4, 1.0), (g, bucket) -> {
                order.add(bucket);
                NDArray g0 = Autograd.gradient(firstLayer);
                firstLayerDone.add(g0 != null && g0.abs().sum().getFloat() > 0);
            });
            assertTrue(grads.size() > 4, "several buckets: " + grads.size());
            List<Integer> expected = new ArrayList<>();
            for (int i = 0; i < grads.size(); i++) {
                expected.add(i);
            }
            assertEquals(expected, order);
            assertEquals(false, firstLayerDone.get(0), "the first bucket left before backward reached layer 0");
            assertEquals(true, firstLayerDone.get(grads.size() - 1));
            grads.close();
        }
    }

    @Test
    void aStreamedStepRunsOneBackwardPass() {
        Pairs pairs = Pairs.random(PAIRS);
        try (NDManager root = NDManager.newBaseManager(); NDManager scratch = root.newSubManager()) {
            Trainer t = trainer(root, false);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> t.gradients(scratch, () -> {
                pairs.dpo(t, 0, 2, 0.5);
                pairs.dpo(t, 2, 4, 0.5);
            }, (g, bucket) -> {}));
            assertTrue(e.getMessage().contains("one backward pass"), e.getMessage());
        }
    }

    /**
     * A rank whose overlapped step fails after its buckets left aborts the ring: the other rank fails at once, although
     * the failed rank keeps its ring open for 12 s (and the ring timeout is 60 s).
     */
    @Test
    void aBackwardThatFailsAfterItsBucketsLeftAbortsTheRing() {
        Pairs pairs = Pairs.random(PAIRS);
        List<String> members = Ranks.loopback(2);
        RingAllReduce.Settings slow = RingAllReduce.Settings.of(Duration.ofSeconds(60)).withChunkBytes(4096)
                .withRingId("abort");
        var ranks = Ranks.run(2, rank -> {
            try (NDManager root = NDManager.newBaseManager();
                    RingAllReduce ring = new RingAllReduce(members, rank, slow)) {
                Trainer t = trainer(root, false);
                DataParallel dp = new DataParallel(t, ring, 0, Collective.Precision.FP32, DataParallel.Traffic.NONE,
                        true);
                dp.checkWeights(); // as on joining a ring: both links have carried data
                long t0 = System.nanoTime();
                try {
                    dp.step(() -> {
                        pairs.dpo(t, rank * 4, rank * 4 + 4, 1.0);
                        if (rank == 1) {
                            throw new IllegalStateException("rank 1 fails after its backward pass");
                        }
                    });
                    dp.checkWeights();
                    return "rank " + rank + " finished";
                } catch (RuntimeException e) {
                    if (rank == 1) {
                        Thread.sleep(12_000); // the ring stays open: only the abort can tell rank 0
                    }
                    return e.getClass().getSimpleName() + " after " + (System.nanoTime() - t0) / 1_000_000 + " ms: "
                            + e.getMessage();
                }
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        List<String> outcomes = Ranks.all(ranks, 120);
        System.out.println(outcomes);
        assertTrue(outcomes.get(1).startsWith("IllegalStateException") && outcomes.get(1).contains("rank 1 fails"),
                outcomes.get(1));
        assertTrue(outcomes.get(0).startsWith("CollectiveException"), outcomes.get(0));
        long ms = Long.parseLong(outcomes.get(0).replaceAll("(?s)^\\w+ after (\\d+) ms.*$", "$1"));
        assertTrue(ms < 8_000, "rank 0 failed at once, not when rank 1 left: " + outcomes.get(0));
    }
}
