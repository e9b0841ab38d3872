package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.algo.PairSelection;
import dev.dice.algo.Stats;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredShard;
import dev.dice.work.Training;
import java.util.List;
import java.util.Map;

/**
 * A stage's row of {@code summary.json}, assembled from what its jobs returned: the evaluation against π0's responses,
 * the reward's agreement with the judge, the tail of the training log and, for a round, what its selection did.
 * What is known beyond lengths and the implicit reward's statistics comes from the run's {@link Evaluator}.
 */
final class StageRows {
    private final RunConfig config;
    private final Evaluator evaluator;

    StageRows(RunConfig config, Evaluator evaluator) {
        this.config = config;
        this.evaluator = evaluator;
    }

    /**
     * @param agreementScores the held-out candidates scored under the stage's model and its predecessor, or null
     * @param log             the stage's training log, or null when it trained nothing
     * @param facts           a round's facts, or null for SFT and DPO
     * @param started         when the stage started ({@link System#nanoTime()})
     */
    StageResult row(String name, List<Response> responses, List<Response> baseline, List<ScoredShard> agreementScores,
            List<Training.Step> log, RoundFacts facts, long started) {
        Evaluation.Scores scores = evaluator.score(responses, baseline);
        Double agreement = agreementScores == null ? null : evaluator.agreement(agreementScores);
        StageResult result = StageResult.evaluated(name, StageResult.Evaluated.of(scores, agreement),
                (System.nanoTime() - started) / 1e9);
        if (log != null && !log.isEmpty()) {
            result = result.withTraining(trained(name, log));
        }
        return facts == null ? result : result.withRound(facts);
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
                evaluator.judged(shaped, valid, texts));
    }
}
