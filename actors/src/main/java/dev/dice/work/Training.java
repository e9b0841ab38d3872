package dev.dice.work;

import dev.dice.gpu.Llama;
import dev.dice.gpu.LrSchedule;
import dev.dice.gpu.SequenceBatch;
import dev.dice.gpu.Trainer;
import dev.dice.proto.PreferencePair;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;

/**
 * The SFT and DPO loops of one stage, nanoGPT's train.py in miniature: shuffle with the stage's seed, take
 * a batch, forward, backward, clip, step, report. Batches cycle through the data in a fresh order every
 * epoch; a step's data depends only on (seed, step), so a resumed stage sees what it would have seen.
 * {@link Replica} runs the same steps as one rank of a data-parallel ring ({@link SftLoss}, {@link DpoLoss}).
 */
public final class Training {

    /**
     * Settings of one training stage. {@code activationCheckpointing}: each decoder layer's activations are recomputed
     * in backward, not kept. {@code zeroStage}: 1 shards the optimizer moments over a ring's ranks, 2 the gradient
     * buckets too (ZeRO, docs/data-parallel.md); a trainer alone steps unsharded.
     */
    public record Settings(int steps, int batch, double lr, int warmup, double maxGradNorm, double beta, long seed,
            boolean activationCheckpointing, int zeroStage) {
        public Settings(int steps, int batch, double lr, int warmup, double maxGradNorm, double beta, long seed) {
            this(steps, batch, lr, warmup, maxGradNorm, beta, seed, false, 0);
        }

        public Settings(int steps, int batch, double lr, int warmup, double maxGradNorm, double beta, long seed,
                boolean activationCheckpointing) {
            this(steps, batch, lr, warmup, maxGradNorm, beta, seed, activationCheckpointing, 0);
        }
    }

    /** One logged step. */
    public record Step(int step, double loss, double rewardAccuracy, double margin, double chosenReward,
            double rejectedReward, double learningRate) {}

    /** A (prompt, response) SFT example. */
    public record Example(String prompt, String response) {}

    private Training() {}

    public static List<Step> sft(Policy policy, List<Example> data, Settings s, Consumer<Step> progress) {
        Trainer trainer = alone(policy.model(), s);
        List<Step> log = new ArrayList<>();
        Batches<Example> batches = new Batches<>(data, s.batch(), s.seed());
        for (int step = 0; step < s.steps(); step++) {
            List<int[]> prompts = new ArrayList<>();
            List<int[]> responses = new ArrayList<>();
            for (Example e : batches.next()) {
                prompts.add(policy.promptTokens(e.prompt()));
                responses.add(policy.responseTokens(e.response(), true));
            }
            double loss = trainer.sft(SequenceBatch.of(prompts, responses, policy.tokenizer().padId()), 1.0);
            Trainer.StepReport report = trainer.step();
            Step logged = new Step(step + 1, loss, Double.NaN, Double.NaN, Double.NaN, Double.NaN, report.learningRate());
            log.add(logged);
            progress.accept(logged);
        }
        return log;
    }

    /** DPO from the policy's current weights, in this process alone; each pair carries its frozen reference log-probs. */
    public static List<Step> dpo(Policy policy, List<PreferencePair> data, Settings s, Consumer<Step> progress) {
        Trainer trainer = alone(policy.model(), s);
        List<Step> log = new ArrayList<>();
        Batches<PreferencePair> batches = new Batches<>(data, s.batch(), s.seed());
        for (int step = 0; step < s.steps(); step++) {
            Trainer.DpoStats stats = dpoBackward(policy, trainer, batches.next(), s.beta(), 1.0);
            Trainer.StepReport report = trainer.step();
            Step logged = step(step + 1, stats, report.learningRate());
            log.add(logged);
            progress.accept(logged);
        }
        return log;
    }

    /**
     * Forward and backward of the DPO loss (a mean over {@code pairs}) scaled by {@code weight}, accumulating into
     * the parameters' gradients; the optimizer step is the caller's.
     */
    static Trainer.DpoStats dpoBackward(Policy policy, Trainer trainer, List<PreferencePair> pairs, double beta,
            double weight) {
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        float[] refChosen = new float[pairs.size()];
        float[] refRejected = new float[pairs.size()];
        for (int side = 0; side < 2; side++) {
            for (PreferencePair p : pairs) {
                prompts.add(policy.promptTokens(p.getPrompt()));
                responses.add(policy.responseTokens(side == 0 ? p.getChosen() : p.getRejected(), true));
            }
        }
        for (int i = 0; i < pairs.size(); i++) {
            refChosen[i] = (float) pairs.get(i).getRefLogpChosen();
            refRejected[i] = (float) pairs.get(i).getRefLogpRejected();
        }
        return trainer.dpo(SequenceBatch.of(prompts, responses, policy.tokenizer().padId()), refChosen, refRejected,
                beta, weight);
    }

    /**
     * SFT as one rank computes it: its loss is a mean over the response tokens of its share, weighted by the share's
     * part of the batch's tokens so that the mean over ranks is the whole batch's loss (weight 1 on one rank).
     */
    public record SftLoss() implements Replica.Objective<Example> {
        @Override
        public double[] backward(Policy policy, Trainer trainer, List<Example> batch, int rank, int world) {
            List<int[]> prompts = new ArrayList<>();
            List<int[]> responses = new ArrayList<>();
            for (Example e : batch) {
                prompts.add(policy.promptTokens(e.prompt()));
                responses.add(policy.responseTokens(e.response(), true));
            }
            int pad = policy.tokenizer().padId();
            Share share = Share.of(batch.size(), rank, world);
            SequenceBatch all = SequenceBatch.of(prompts, responses, pad);
            SequenceBatch mine = world == 1 ? all : SequenceBatch.of(prompts.subList(share.from(), share.to()),
                    responses.subList(share.from(), share.to()), pad);
            double weight = all.responseTokens() == 0 ? share.weight(batch.size(), world)
                    : (double) mine.responseTokens() * world / all.responseTokens();
            return new double[] {trainer.sft(mine, weight) * weight};
        }

        @Override
        public Step logged(int step, float[] figures, double learningRate) {
            return new Step(step, figures[0], Double.NaN, Double.NaN, Double.NaN, Double.NaN, learningRate);
        }
    }

    /** DPO as one rank computes it: a mean over its share's pairs, weighted by the share's part of the batch. */
    public record DpoLoss(double beta) implements Replica.Objective<PreferencePair> {
        @Override
        public double[] backward(Policy policy, Trainer trainer, List<PreferencePair> batch, int rank, int world) {
            Share share = Share.of(batch.size(), rank, world);
            double w = share.weight(batch.size(), world);
            Trainer.DpoStats s = dpoBackward(policy, trainer, batch.subList(share.from(), share.to()), beta, w);
            return new double[] {s.loss() * w, s.rewardAccuracy() * w, s.margin() * w, s.chosenReward() * w,
                    s.rejectedReward() * w};
        }

        @Override
        public Step logged(int step, float[] f, double learningRate) {
            return new Step(step, f[0], f[1], f[2], f[3], f[4], learningRate);
        }
    }

    static Step step(int step, Trainer.DpoStats stats, double learningRate) {
        return new Step(step, stats.loss(), stats.rewardAccuracy(), stats.margin(), stats.chosenReward(),
                stats.rejectedReward(), learningRate);
    }

    /** A trainer of {@code model} with these settings, the model checkpointing its activations if they say so. */
    static Trainer trainer(Llama model, Settings s) {
        model.checkpointActivations(s.activationCheckpointing());
        return new Trainer(model, Trainer.Settings.of(LrSchedule.constant(s.lr(), s.warmup()), s.maxGradNorm())
                .withZeroStage(s.zeroStage()));
    }

    /** A trainer for a loop without a ring: nothing to shard over, so its optimizer is unsharded. */
    private static Trainer alone(Llama model, Settings s) {
        model.checkpointActivations(s.activationCheckpointing());
        return new Trainer(model, Trainer.Settings.of(LrSchedule.constant(s.lr(), s.warmup()), s.maxGradNorm()));
    }

    /**
     * Rank {@code rank}'s share of a global batch of {@code size} items split over {@code world} ranks: items
     * [from, to), contiguous, shares differing by at most one.
     */
    record Share(int from, int to) {
        static Share of(int size, int rank, int world) {
            if (world < 1 || rank < 0 || rank >= world || size < world) {
                throw new IllegalArgumentException("cannot split a batch of " + size + " over " + world
                        + " ranks (rank " + rank + "): every rank needs at least one item");
            }
            return new Share(start(size, rank, world), start(size, rank + 1, world));
        }

        private static int start(int size, int rank, int world) {
            return rank * (size / world) + Math.min(rank, size % world);
        }

        int size() {
            return to - from;
        }

        /**
         * The factor on this share's mean loss that makes the mean over ranks of the weighted shares equal the
         * mean over the whole batch: share/size · world (1 when the shares are equal).
         */
        double weight(int size, int world) {
            return (double) size() * world / size;
        }
    }

    /** Endless batches: each epoch a new seeded permutation. */
    static final class Batches<T> {
        private final List<T> data;
        private final int size;
        private final Random rng;
        private List<T> order = List.of();
        private int position;

        Batches(List<T> data, int size, long seed) {
            if (data.isEmpty()) {
                throw new IllegalArgumentException("training set is empty");
            }
            this.data = data;
            this.size = size;
            this.rng = new Random(seed);
        }

        /** The batches of steps 0 .. {@code steps} − 1 are skipped: the next one is that of step {@code steps}. */
        static <T> Batches<T> from(List<T> data, int size, long seed, int steps) {
            Batches<T> batches = new Batches<>(data, size, seed);
            for (int i = 0; i < steps; i++) {
                batches.next();
            }
            return batches;
        }

        List<T> next() {
            List<T> batch = new ArrayList<>(size);
            while (batch.size() < size) {
                if (position == order.size()) {
                    List<T> shuffled = new ArrayList<>(data);
                    Collections.shuffle(shuffled, rng);
                    order = shuffled;
                    position = 0;
                }
                batch.add(order.get(position++));
            }
            return batch;
        }
    }
}
