package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.algo.PairSelection;
import dev.dice.algo.Stats;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.task.Judge;
import dev.dice.task.Prompt;
import dev.dice.work.Training;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A stage's row of {@code summary.json}, assembled from what its jobs returned: the evaluation against π0's responses,
 * the reward's agreement with the judge, the tail of the training log and, for a round, what its selection did.
 * Without a judge (the user's own prompts) only lengths and the implicit reward's statistics are known.
 */
final class StageRows {
    private final RunConfig config;
    private final Judge judge;
    private final RunPrompts prompts;

    /** {@code judge}: null without one. */
    StageRows(RunConfig config, Judge judge, RunPrompts prompts) {
        this.config = config;
        this.judge = judge;
        this.prompts = prompts;
    }

    /**
     * @param agreementScores the held-out candidates scored under the stage's model and its predecessor, or null
     * @param log             the stage's training log, or null when it trained nothing
     * @param facts           a round's facts, or null for SFT and DPO
     * @param started         when the stage started ({@link System#nanoTime()})
     */
    StageResult row(String name, List<Response> responses, List<Response> baseline, List<ScoredShard> agreementScores,
            List<Training.Step> log, RoundFacts facts, long started) {
        Evaluation.Scores scores = judge == null ? Evaluation.lengthOnly(responses)
                : Evaluation.score(prompts.eval(), responses, baseline, judge);
        Double agreement = agreementScores == null ? null : agreement(agreementScores);
        StageResult result = StageResult.evaluated(name, StageResult.Evaluated.of(scores, agreement),
                (System.nanoTime() - started) / 1e9);
        if (log != null && !log.isEmpty()) {
            result = result.withTraining(trained(name, log));
        }
        return facts == null ? result : result.withRound(facts);
    }

    /** How well the implicit reward ranks the held-out candidates as the judge does. */
    private double agreement(List<ScoredShard> scored) {
        Map<String, Double> rewards = new HashMap<>();
        for (ScoredShard shard : scored) {
            for (ScoredResponse s : shard.getResponsesList()) {
                rewards.put(Evaluation.key(s.getResponse().getPromptId(), s.getResponse().getSample()),
                        s.getLogpPolicy() - s.getLogpRef());
            }
        }
        List<Prompt> held = prompts.agreement();
        double[][] r = new double[held.size()][];
        double[][] q = new double[held.size()][];
        for (int i = 0; i < held.size(); i++) {
            Prompt p = held.get(i);
            List<String> candidates = prompts.agreementCandidates().get(i);
            r[i] = new double[candidates.size()];
            q[i] = new double[candidates.size()];
            for (int j = 0; j < candidates.size(); j++) {
                r[i][j] = rewards.get(Evaluation.key(p.id(), j));
                q[i][j] = judge.quality(p, candidates.get(j), true);
            }
        }
        return Evaluation.rewardAgreement(r, q);
    }

    /** The last tenth of a stage's training log; SFT has no reward accuracy and no DPO fields. */
    private StageResult.Trained trained(String stage, List<Training.Step> log) {
        List<Training.Step> tail = log.subList(log.size() - Math.max(1, log.size() / 10), log.size());
        double loss = tail.stream().mapToDouble(Training.Step::loss).average().orElse(Double.NaN);
        double accuracy = tail.stream().mapToDouble(Training.Step::rewardAccuracy).average().orElse(Double.NaN);
        if (Double.isNaN(accuracy)) {
            return new StageResult.Trained(loss, null, null, null);
        }
        // DPO rewards are β·(log π − log π_ref): divided by the stage's β they are the log-prob changes.
        double beta = "dpo".equals(stage) ? config.dpo().beta() : config.rounds().training().beta();
        double chosen = tail.stream().mapToDouble(Training.Step::chosenReward).average().orElse(Double.NaN) / beta;
        double rejected = tail.stream().mapToDouble(Training.Step::rejectedReward).average().orElse(Double.NaN) / beta;
        return new StageResult.Trained(loss, accuracy, chosen, rejected);
    }

    /** What a round's selection did; {@code texts}: the round's responses by (prompt id, sample). */
    RoundFacts roundFacts(RewardShapingActor.Shaped shaped, Map<String, String> texts) {
        List<Candidate> valid = shaped.candidates().stream().filter(Candidate::valid).toList();
        double gapAtZero = shaped.search() != null ? shaped.search().meanGapAtZero()
                : PairSelection.meanLengthGap(PairSelection.select(shaped.candidates(), 0,
                        PairSelection.minValidFor(config.rounds().k())));
        RoundFacts.Selection selection = new RoundFacts.Selection(shaped.alpha(),
                PairSelection.meanLengthGap(shaped.pairs()), gapAtZero,
                valid.size() / (double) Math.max(1, shaped.candidates().size()), shaped.pairs().size(), 0);
        double corrRef = Stats.meanWithinGroupCorrelation(valid, Candidate::promptId, Candidate::reward,
                Candidate::logpRef);
        Double kl = valid.isEmpty() ? null
                : valid.stream().mapToDouble(c -> c.logpPolicy() - c.logpRef()).average().orElse(Double.NaN);
        return new RoundFacts(selection, new RoundFacts.Reward(corrRef, kl),
                judge == null ? null : judged(shaped, valid, texts));
    }

    private RoundFacts.Judged judged(RewardShapingActor.Shaped shaped, List<Candidate> valid, Map<String, String> texts) {
        double corrQuality = Stats.meanWithinGroupCorrelation(valid, Candidate::promptId, Candidate::reward,
                c -> quality(c.promptId(), c.sample(), texts));
        double[] accuracy = Evaluation.pairAccuracy(shaped.pairs(), prompts::byId, texts, judge);
        double sampleQ = valid.stream().mapToDouble(c -> quality(c.promptId(), c.sample(), texts)).average()
                .orElse(Double.NaN);
        double chosenQ = shaped.pairs().stream().mapToDouble(p -> quality(p.promptId(), p.chosen().sample(), texts))
                .average().orElse(Double.NaN);
        double rejectedQ = shaped.pairs().stream().mapToDouble(p -> quality(p.promptId(), p.rejected().sample(), texts))
                .average().orElse(Double.NaN);
        return new RoundFacts.Judged(accuracy[0], accuracy[1], accuracy[2], corrQuality, sampleQ, chosenQ, rejectedQ);
    }

    private double quality(String promptId, int sample, Map<String, String> texts) {
        return judge.quality(prompts.byId(promptId), texts.get(Evaluation.key(promptId, sample)), true);
    }
}
