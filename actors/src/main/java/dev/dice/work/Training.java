package dev.dice.work;

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
 */
public final class Training {

    /** Settings of one training stage. */
    public record Settings(int steps, int batch, double lr, int warmup, double maxGradNorm, double beta, long seed) {}

    /** One logged step. */
    public record Step(int step, double loss, double rewardAccuracy, double margin, double chosenReward,
            double rejectedReward, double learningRate) {}

    /** A (prompt, response) SFT example. */
    public record Example(String prompt, String response) {}

    private Training() {}

    public static List<Step> sft(Policy policy, List<Example> data, Settings s, Consumer<Step> progress) {
        Trainer trainer = new Trainer(policy.model(), settings(s));
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

    /** DPO from the policy's current weights; each pair carries its frozen reference log-probs. */
    public static List<Step> dpo(Policy policy, List<PreferencePair> data, Settings s, Consumer<Step> progress) {
        Trainer trainer = new Trainer(policy.model(), settings(s));
        List<Step> log = new ArrayList<>();
        Batches<PreferencePair> batches = new Batches<>(data, s.batch(), s.seed());
        for (int step = 0; step < s.steps(); step++) {
            List<PreferencePair> batch = batches.next();
            List<int[]> prompts = new ArrayList<>();
            List<int[]> responses = new ArrayList<>();
            float[] refChosen = new float[batch.size()];
            float[] refRejected = new float[batch.size()];
            for (int side = 0; side < 2; side++) {
                for (PreferencePair p : batch) {
                    prompts.add(policy.promptTokens(p.getPrompt()));
                    responses.add(policy.responseTokens(side == 0 ? p.getChosen() : p.getRejected(), true));
                }
            }
            for (int i = 0; i < batch.size(); i++) {
                refChosen[i] = (float) batch.get(i).getRefLogpChosen();
                refRejected[i] = (float) batch.get(i).getRefLogpRejected();
            }
            Trainer.DpoStats stats = trainer.dpo(SequenceBatch.of(prompts, responses, policy.tokenizer().padId()),
                    refChosen, refRejected, s.beta(), 1.0);
            Trainer.StepReport report = trainer.step();
            Step logged = new Step(step + 1, stats.loss(), stats.rewardAccuracy(), stats.margin(), stats.chosenReward(),
                    stats.rejectedReward(), report.learningRate());
            log.add(logged);
            progress.accept(logged);
        }
        return log;
    }

    private static Trainer.Settings settings(Settings s) {
        return Trainer.Settings.of(LrSchedule.constant(s.lr(), s.warmup()), s.maxGradNorm());
    }

    /** Endless batches: each epoch a new seeded permutation. */
    private static final class Batches<T> {
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
