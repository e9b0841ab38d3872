package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.dice.gpu.AdamW;
import dev.dice.gpu.Autograd;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.LrSchedule;
import dev.dice.gpu.MemoryPlan;
import dev.dice.gpu.SequenceBatch;
import dev.dice.gpu.Trainer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * ZeRO stages 1 and 2 against unsharded data parallelism on real rings: a model of odd sizes cut into several buckets,
 * weight decay on, and a clipping threshold the gradients cross, so the global norm summed over the parts matters.
 */
class ZeroTest {
    static {
        Ranks.quietTransport();
    }

    // vocabulary 33, hidden 24 (4 heads of 6, 2 key/value heads), SwiGLU 37: no size divides evenly by 2 and 3 alike
    private static final LlamaConfig ODD = new LlamaConfig(33, 24, 37, 2, 4, 2, 32, 1e-5, 10000.0, false, 1, 2);
    private static final long BUCKET_BYTES = 4 * 1000; // 6 buckets
    private static final AdamW.Settings ADAM = new AdamW.Settings(0.9, 0.999, 1e-8, 0.1);
    private static final double MAX_NORM = 1.4;
    private static final double LR = 5e-4;
    private static final int STEPS = 20;
    private static final int PAIRS = 6;
    private static final RingAllReduce.Settings RING = RingAllReduce.Settings.of(Duration.ofSeconds(20))
            .withChunkBytes(1024);

    /** A rank's optimizer state and weights at some step, copied out of its trainer. */
    private record Saved(int steps, Map<String, NDArray> weights, Map<String, NDArray> optimizer) {}

    /** What a rank ends with, and what its trainer allocated. */
    private record Rank(Map<String, float[]> weights, int clippedSteps, long weightBytes, long gradBytes,
            long gradientBufferBytes, long optimizerBytes, Saved saved) {}

    @Test
    void zeroOneAndTwoTrainLikeUnshardedDataParallel() {
        Map<String, float[]> start = train(2, 0, 0, 0, null, null).get(0).weights();
        for (int world : new int[] {2, 3}) {
            List<Rank> plain = train(world, 0, 0, STEPS, null, null);
            assertTrue(plain.get(0).clippedSteps() > 0 && plain.get(0).clippedSteps() < STEPS,
                    "some steps are clipped, some not: " + plain.get(0).clippedSteps());
            double moved = 0;
            for (String name : start.keySet()) {
                for (int i = 0; i < start.get(name).length; i++) {
                    moved = Math.max(moved, Math.abs(start.get(name)[i] - plain.get(0).weights().get(name)[i]));
                }
            }
            System.out.printf("R=%d unsharded: the weights moved up to %.3g%n", world, moved);
            assertTrue(moved > 5e-3, "training moved the weights: " + moved);
            for (int stage : new int[] {1, 2}) {
                List<Rank> zero = train(world, stage, 0, STEPS, null, null);
                for (int r = 0; r < world; r++) {
                    double worst = 0;
                    for (String name : plain.get(0).weights().keySet()) {
                        float[] want = plain.get(0).weights().get(name);
                        float[] got = zero.get(r).weights().get(name);
                        double scale = 0;
                        double diff = 0;
                        for (int i = 0; i < want.length; i++) {
                            scale = Math.max(scale, Math.abs(want[i]));
                            diff = Math.max(diff, Math.abs(want[i] - got[i]));
                        }
                        worst = Math.max(worst, diff / scale);
                    }
                    System.out.printf("ZeRO-%d R=%d rank %d: max |w - w_unsharded| / max |w| = %.3g after %d steps%n",
                            stage, world, r, worst, STEPS);
                    assertTrue(worst <= 1e-6, "ZeRO-" + stage + " R=" + world + " rank " + r + ": " + worst);
                }
            }
        }
    }

    /**
     * With checkpointing, {@link DataParallel#step(Runnable)} reduce-scatters each bucket as backward finishes it;
     * without, it reduces after backward. Both take the steps of {@link DataParallel#step()} bit for bit.
     */
    @Test
    void zeroTwoReducingEachBucketAsBackwardFinishesItTakesTheSameSteps() {
        for (int world : new int[] {2, 3}) {
            List<Rank> after = train(world, 2, 0, 6, null, null);
            for (boolean checkpointing : new boolean[] {false, true}) {
                List<Rank> during = train(world, 2, 0, 6, null, null, true, checkpointing);
                for (int r = 0; r < world; r++) {
                    for (String name : after.get(r).weights().keySet()) {
                        assertArrayEquals(after.get(r).weights().get(name), during.get(r).weights().get(name),
                                "R=" + world + " checkpointing " + checkpointing + " rank " + r + ": " + name);
                    }
                    assertEquals(0, during.get(r).gradBytes(), "no .grad after a streamed step");
                    assertEquals(after.get(r).gradientBufferBytes() > 0, during.get(r).gradientBufferBytes() > 0);
                }
            }
        }
    }

    @Test
    void zeroTwoKeepsNoGradientOnceItsStepEnds() {
        for (int stage : new int[] {1, 2}) {
            List<String> members = Ranks.loopback(2);
            List<long[]> held = Ranks.all(Ranks.run(2, rank -> {
                try (NDManager root = NDManager.newBaseManager();
                        RingAllReduce ring = new RingAllReduce(members, rank, RING.withRingId("held" + stage))) {
                    Trainer t = trainer(root, stage, Llama.init(ODD, root.newSubManager(), 3));
                    DataParallel dp = new DataParallel(t, ring, 1);
                    long[] bytes = new long[6]; // before and after each of three steps
                    for (int s = 0; s < 3; s++) {
                        backward(t, s, rank, 2);
                        bytes[2 * s] = gradientBytes(t.model().parameters());
                        dp.step();
                        bytes[2 * s + 1] = gradientBytes(t.model().parameters());
                    }
                    return bytes;
                }
            }), 120);
            long whole = 4 * ODD.parameterCount();
            for (int r = 0; r < 2; r++) {
                for (int s = 0; s < 3; s++) {
                    String what = "ZeRO-" + stage + " rank " + r + " step " + s + ": ";
                    assertEquals(whole, held.get(r)[2 * s], what + "backward fills every .grad");
                    // stage 1 zeroes them in place for the next step; stage 2 holds only its parts, and frees those too
                    assertEquals(stage == 1 ? whole : 0, held.get(r)[2 * s + 1], what + ".grad after the step");
                }
            }
        }
    }

    @Test
    void planCountsWhatTheTrainerAllocates() {
        for (int world : new int[] {1, 2, 3}) { // a ring of one: one part, the whole bucket
            for (int stage = 0; stage <= 2; stage++) {
                List<Rank> ranks = train(world, stage, 0, 1, null, null);
                MemoryPlan.Trainer plan = MemoryPlan.of(ODD, new MemoryPlan.Settings(world, 1L << 40, stage, false,
                        16, 8, 3, 6, 4, 3, BUCKET_BYTES)).trainer();
                String what = "ZeRO-" + stage + " R=" + world + ": ";
                assertEquals(plan.weights(), ranks.get(0).weightBytes(), what + "weights");
                assertEquals(plan.gradientsKept(), ranks.get(0).gradBytes(), what + ".grad kept after the step");
                assertEquals(plan.gradientBuckets(), ranks.stream().mapToLong(Rank::gradientBufferBytes).max()
                        .orElseThrow(), what + "gradient buffers");
                assertEquals(plan.optimizer(), ranks.stream().mapToLong(Rank::optimizerBytes).max().orElseThrow(),
                        what + "optimizer");
                if (stage > 0) {
                    assertTrue(ranks.get(0).optimizerBytes() < plan.weights() * 2 / world + 8 * 6,
                            what + "moments for about 1/R of the parameters");
                }
            }
        }
    }

    @Test
    void resumeMidStageEqualsAnUninterruptedRun() {
        for (int[] case_ : new int[][] {{2, 2}, {3, 1}}) {
            int world = case_[0];
            int stage = case_[1];
            List<Rank> whole = train(world, stage, 0, STEPS, null, null);
            try (NDManager keep = NDManager.newBaseManager()) {
                List<Rank> first = train(world, stage, 0, STEPS / 2, null, keep);
                List<Rank> second = train(world, stage, STEPS / 2, STEPS,
                        first.stream().map(Rank::saved).toList(), null);
                for (int r = 0; r < world; r++) {
                    for (String name : whole.get(r).weights().keySet()) {
                        assertArrayEquals(whole.get(r).weights().get(name), second.get(r).weights().get(name),
                                "ZeRO-" + stage + " R=" + world + " rank " + r + ": " + name);
                    }
                }
            }
        }
    }

    @Test
    void resumeWithAnotherRingSizeIsRefusedWithTheReason() throws Exception {
        try (NDManager keep = NDManager.newBaseManager()) {
            List<Rank> three = train(3, 1, 0, 2, null, keep);
            List<Saved> survivors = three.stream().limit(2).map(Rank::saved).toList();
            List<String> members = Ranks.loopback(2);
            var ranks = Ranks.run(2, rank -> {
                try (NDManager root = NDManager.newBaseManager();
                        RingAllReduce ring = new RingAllReduce(members, rank, RING.withRingId("refuse"))) {
                    Trainer t = restored(root, 1, survivors.get(rank));
                    step(t, new DataParallel(t, ring, 1), 2, rank, 2);
                    return null;
                }
            });
            for (var f : ranks) {
                ExecutionException e = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
                        () -> f.get(60, TimeUnit.SECONDS));
                assertInstanceOf(IllegalStateException.class, e.getCause());
                String message = e.getCause().getMessage();
                assertTrue(message.startsWith("ZeRO cannot resume this stage: rank ") && message.contains(" of 3 ")
                        && message.contains("as rank ") && message.contains(" of 2,"), message);
                assertTrue(!message.contains("\n"), "one line: " + message);
            }
        }
    }

    /**
     * {@code world} ranks of ZeRO stage {@code stage} take steps [{@code from}, {@code to}), from a fresh model or
     * from {@code resume}; with {@code keep}, each rank's final state is copied there.
     */
    private static List<Rank> train(int world, int stage, int from, int to, List<Saved> resume, NDManager keep) {
        return train(world, stage, from, to, resume, keep, false, false);
    }

    /**
     * {@code streamed}: each step's backward runs inside the data-parallel step ({@link DataParallel#step(Runnable)}),
     * which reduce-scatters each bucket as backward finishes it; {@code checkpointing}: activation checkpointing on.
     */
    private static List<Rank> train(int world, int stage, int from, int to, List<Saved> resume, NDManager keep,
            boolean streamed, boolean checkpointing) {
        List<String> members = Ranks.loopback(world);
        return Ranks.all(Ranks.run(world, rank -> {
            try (NDManager root = NDManager.newBaseManager();
                    RingAllReduce ring = new RingAllReduce(members, rank, RING.withRingId("z" + stage + "r" + world))) {
                Trainer t = resume == null ? trainer(root, stage, Llama.init(ODD, root.newSubManager(), 3))
                        : restored(root, stage, resume.get(rank));
                DataParallel dp = new DataParallel(t, ring, 1); // weight checksums compared after every step
                t.model().checkpointActivations(checkpointing);
                int clipped = 0;
                for (int s = from; s < to; s++) {
                    int step = s;
                    Trainer.StepReport report = streamed ? dp.step(() -> backward(t, step, rank, world))
                            : step(t, dp, s, rank, world);
                    clipped += report.gradNorm() > MAX_NORM ? 1 : 0;
                }
                Map<String, NDArray> params = t.model().parameters();
                long weightBytes = params.values().stream().mapToLong(p -> 4 * p.size()).sum();
                long gradBytes = gradientBytes(params);
                Map<String, float[]> weights = new LinkedHashMap<>();
                params.forEach((name, p) -> weights.put(name, p.toFloatArray()));
                Saved saved = keep == null ? null
                        : new Saved(t.optimizer().steps(), Autograd.plainCopies(params, keep),
                                Autograd.plainCopies(t.optimizer().state(), keep));
                return new Rank(weights, clipped, weightBytes, gradBytes, dp.gradientBufferBytes(),
                        t.optimizer().bytes(), saved);
            }
        }), 300);
    }

    private static Trainer trainer(NDManager root, int stage, Llama model) {
        return new Trainer(model, new Trainer.Settings(LrSchedule.constant(LR, 3), ADAM, MAX_NORM, BUCKET_BYTES,
                stage));
    }

    private static Trainer restored(NDManager root, int stage, Saved saved) {
        NDManager manager = root.newSubManager();
        Trainer t = trainer(root, stage, Llama.of(ODD, manager, Autograd.plainCopies(saved.weights(), manager)));
        t.optimizer().restore(Autograd.plainCopies(saved.optimizer(), manager), saved.steps(), t.model().parameters());
        return t;
    }

    /** Step {@code s} on this rank's share of that step's global batch, then the data-parallel step. */
    private static Trainer.StepReport step(Trainer t, DataParallel dp, int s, int rank, int world) {
        backward(t, s, rank, world);
        return dp.step();
    }

    /** The forward and backward pass of step {@code s} on this rank's share of that step's global batch. */
    private static void backward(Trainer t, int s, int rank, int world) {
        Random rng = new Random(100 + s);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        int share = PAIRS / world;
        for (int i = 0; i < PAIRS; i++) {
            int[] prompt = rng.ints(1 + rng.nextInt(4), 3, 33).toArray();
            int[] response = rng.ints(1 + rng.nextInt(6), 3, 33).toArray();
            if (i / share == rank) {
                prompts.add(prompt);
                responses.add(response);
            }
        }
        t.sft(SequenceBatch.of(prompts, responses, 0), 1.0);
    }

    /** The bytes of every {@code .grad} the parameters hold. */
    private static long gradientBytes(Map<String, NDArray> params) {
        long bytes = 0;
        for (NDArray p : params.values()) {
            try (NDArray g = Autograd.gradient(p)) {
                bytes += g == null ? 0 : 4 * g.size();
            }
        }
        return bytes;
    }
}
