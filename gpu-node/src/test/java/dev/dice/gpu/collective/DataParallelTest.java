package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Autograd;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.LrSchedule;
import dev.dice.gpu.SequenceBatch;
import dev.dice.gpu.Trainer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class DataParallelTest {
    static {
        Ranks.quietTransport();
    }

    private static final LlamaConfig TINY = new LlamaConfig(32, 32, 64, 2, 4, 2, 32, 1e-5, 10000.0, false, 1, 2);
    private static final long SEED = 11;
    private static final int PAIRS = 6; // the global batch: divisible by 1, 2 and 3 ranks
    private static final int STEPS = 3;
    private static final double BETA = 0.5;
    private static final RingAllReduce.Settings RING = RingAllReduce.Settings.of(Duration.ofSeconds(20))
            .withChunkBytes(4096);

    /** The global batch: pair i has a prompt, a chosen and a rejected response, and reference log-probs. */
    private record Pairs(List<int[]> prompts, List<int[]> chosen, List<int[]> rejected, float[] refChosen,
            float[] refRejected) {
        static Pairs random(int n) {
            Random rng = new Random(5);
            Pairs p = new Pairs(new ArrayList<>(), new ArrayList<>(), new ArrayList<>(), new float[n], new float[n]);
            for (int i = 0; i < n; i++) {
                p.prompts.add(tokens(rng, 1 + rng.nextInt(4)));
                p.chosen.add(tokens(rng, 1 + rng.nextInt(5)));
                p.rejected.add(tokens(rng, 1 + rng.nextInt(5)));
                p.refChosen[i] = (float) (-3 - 4 * rng.nextDouble());
                p.refRejected[i] = (float) (-3 - 4 * rng.nextDouble());
            }
            return p;
        }

        private static int[] tokens(Random rng, int n) {
            return rng.ints(n, 3, 32).toArray();
        }

        /** Pairs [from, to): chosen rows first, then rejected rows, as {@code Trainer.dpo} wants them. */
        SequenceBatch batch(int from, int to) {
            List<int[]> ps = new ArrayList<>(prompts.subList(from, to));
            ps.addAll(prompts.subList(from, to));
            List<int[]> rs = new ArrayList<>(chosen.subList(from, to));
            rs.addAll(rejected.subList(from, to));
            return SequenceBatch.of(ps, rs, 0);
        }
    }

    private static Trainer trainer(NDManager root) {
        Llama model = Llama.init(TINY, root.newSubManager(), SEED);
        return new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-3, 1), 1.0));
    }

    private static Map<String, float[]> weights(Llama model) {
        Map<String, float[]> out = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> out.put(name, p.toFloatArray()));
        return out;
    }

    /** One rank on the whole global batch: the reference the data-parallel run must match. */
    private static Map<String, float[]> alone(Pairs pairs) {
        try (NDManager root = NDManager.newBaseManager()) {
            Trainer t = trainer(root);
            for (int s = 0; s < STEPS; s++) {
                t.dpo(pairs.batch(0, PAIRS), pairs.refChosen(), pairs.refRejected(), BETA, 1.0);
                t.step();
            }
            return weights(t.model());
        }
    }

    /** One rank's result: its weights after training and the global-batch loss before each step. */
    private record Trained(Map<String, float[]> weights, double[] losses) {}

    private static List<Trained> dataParallel(Pairs pairs, int world, int steps, Collective.Precision gradients) {
        List<String> members = Ranks.loopback(world);
        int shard = PAIRS / world;
        return Ranks.all(Ranks.run(world, rank -> {
            try (NDManager root = NDManager.newBaseManager();
                    RingAllReduce ring = new RingAllReduce(members, rank, RING.withRingId("dp" + world))) {
                Trainer t = trainer(root);
                DataParallel dp = new DataParallel(t, ring, 1, gradients);
                int from = rank * shard;
                double[] losses = new double[steps];
                ByteBuffer loss = ByteBuffer.allocateDirect(4).order(ByteOrder.nativeOrder());
                for (int s = 0; s < steps; s++) {
                    // the loss is a mean over the shard's pairs: the mean over ranks is the global batch mean
                    double mine = t.dpo(pairs.batch(from, from + shard),
                            Arrays.copyOfRange(pairs.refChosen(), from, from + shard),
                            Arrays.copyOfRange(pairs.refRejected(), from, from + shard), BETA, 1.0).loss();
                    loss.putFloat(0, (float) mine);
                    ring.allReduceMean(loss, -2);
                    losses[s] = loss.getFloat(0);
                    dp.step();
                }
                return new Trained(weights(t.model()), losses);
            }
        }), 120);
    }

    @Test
    void nRankDpoMatchesOneRankOnTheConcatenatedBatch() {
        Pairs pairs = Pairs.random(PAIRS);
        Map<String, float[]> expected = alone(pairs);
        Map<String, float[]> initial;
        try (NDManager root = NDManager.newBaseManager()) {
            initial = weights(trainer(root).model());
        }
        for (int world : new int[] {2, 3}) {
            List<Map<String, float[]>> ranks = dataParallel(pairs, world, STEPS, Collective.Precision.FP32)
                    .stream().map(Trained::weights).toList();
            for (int r = 0; r < world; r++) {
                double maxDiff = 0;
                double maxMove = 0;
                for (String name : expected.keySet()) {
                    float[] e = expected.get(name);
                    float[] got = ranks.get(r).get(name);
                    float[] init = initial.get(name);
                    for (int i = 0; i < e.length; i++) {
                        maxDiff = Math.max(maxDiff, Math.abs(e[i] - got[i]));
                        maxMove = Math.max(maxMove, Math.abs(e[i] - init[i]));
                    }
                    if (r > 0) {
                        assertTrue(Arrays.equals(ranks.get(0).get(name), got),
                                "R=" + world + ": rank " + r + " differs from rank 0 in " + name);
                    }
                }
                System.out.printf("R=%d rank %d: max |w - w_one_rank| = %.3g after %d steps (weights moved up to %.3g)%n",
                        world, r, maxDiff, STEPS, maxMove);
                assertTrue(maxMove > 1e-3, "training moved the weights (" + maxMove + ")");
                assertTrue(maxDiff < 1e-5, "R=" + world + " rank " + r + ": max |Δw| vs one rank " + maxDiff);
            }
        }
    }

    /**
     * fp16 gradients: the ranks still hold identical weights (the mean is rounded once, the same everywhere), and
     * training follows the fp32 run closely. Prints both loss curves (docs/benchmarks.md quotes them).
     */
    @Test
    void fp16GradientsKeepRanksIdenticalAndTrackFp32Training() {
        Pairs pairs = Pairs.random(PAIRS);
        int steps = 12;
        List<Trained> fp32 = dataParallel(pairs, 2, steps, Collective.Precision.FP32);
        List<Trained> fp16 = dataParallel(pairs, 2, steps, Collective.Precision.FP16);
        for (String name : fp16.get(0).weights().keySet()) {
            assertTrue(Arrays.equals(fp16.get(0).weights().get(name), fp16.get(1).weights().get(name)),
                    "fp16: rank 1 differs from rank 0 in " + name);
        }
        double[] a = fp32.get(0).losses();
        double[] b = fp16.get(0).losses();
        System.out.printf("DPO loss by step, R=2, fp32 gradients: %s%nDPO loss by step, R=2, fp16 gradients: %s%n",
                Arrays.toString(a), Arrays.toString(b));
        double maxGap = 0;
        for (int s = 0; s < steps; s++) {
            maxGap = Math.max(maxGap, Math.abs(a[s] - b[s]));
        }
        assertTrue(b[steps - 1] < b[0] - 0.05, "fp16 training lowers the loss: " + Arrays.toString(b));
        assertTrue(maxGap < 0.01 * a[0], "fp16 loss curve stays within 1% of fp32's (max gap " + maxGap + ")");
    }

    @Test
    void divergedReplicasFailEveryRankWithAClearError() {
        List<String> members = Ranks.loopback(2);
        var ranks = Ranks.run(2, rank -> {
            try (NDManager root = NDManager.newBaseManager();
                    RingAllReduce ring = new RingAllReduce(members, rank, RING.withRingId("diverge"))) {
                Trainer t = trainer(root);
                DataParallel dp = new DataParallel(t, ring, 0);
                dp.checkWeights(); // identical replicas pass
                if (rank == 1) {
                    Autograd.off();
                    NDArray w = t.model().parameters().get("model.norm.weight");
                    w.addi(1e-6f);
                }
                dp.checkWeights();
                return null;
            }
        });
        for (int r = 0; r < 2; r++) {
            int rank = r;
            ExecutionException e = assertThrows(ExecutionException.class, () -> ranks.get(rank).get(60, TimeUnit.SECONDS));
            WeightDivergenceException d = assertInstanceOf(WeightDivergenceException.class, e.getCause());
            assertTrue(d.getMessage().contains("rank 0=") && d.getMessage().contains("rank 1="), d.getMessage());
        }
        assertEquals(2, ranks.size());
    }
}
