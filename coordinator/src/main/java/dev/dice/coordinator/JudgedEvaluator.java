package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.algo.Stats;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.task.BuiltinTask;
import dev.dice.task.Judge;
import dev.dice.task.Prompt;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The evaluation of the built-in task by its hidden judge: win rates against π0's responses, true quality, and the
 * implicit reward's agreement with the judge on held-out candidates (the offline generators' responses to eval
 * prompts, drawn once per run).
 */
final class JudgedEvaluator implements Evaluator {
    private final Judge judge;
    private final RunPrompts prompts;
    private final List<Prompt> agreement = new ArrayList<>();
    private final List<List<String>> agreementCandidates = new ArrayList<>();

    /** {@code agreementSeed} draws the candidates of the first {@code agreementPrompts} eval prompts. */
    JudgedEvaluator(BuiltinTask task, Judge judge, RunPrompts prompts, int agreementPrompts, long agreementSeed) {
        this.judge = judge;
        this.prompts = prompts;
        SplittableRandom rng = new SplittableRandom(agreementSeed);
        for (Prompt p : task.eval(agreementPrompts)) {
            agreement.add(p);
            agreementCandidates.add(task.offlineCandidates(p, rng));
        }
    }

    @Override
    public Evaluation.Scores score(List<Response> responses, List<Response> baseline) {
        return Evaluation.score(prompts.eval(), responses, baseline, judge);
    }

    @Override
    public Double quality(Response r) {
        return prompts.handedOut(r.getPromptId())
                ? judge.quality(prompts.byId(r.getPromptId()), r.getText(), r.getEndedOnEos()) : null;
    }

    @Override
    public boolean checksAgreement() {
        return true;
    }

    @Override
    public List<Prompt> agreementPrompts() {
        return agreement;
    }

    @Override
    public List<List<String>> agreementCandidates() {
        return agreementCandidates;
    }

    @Override
    public double agreement(List<ScoredShard> scored) {
        Map<String, Double> rewards = new HashMap<>();
        for (ScoredShard shard : scored) {
            for (ScoredResponse s : shard.getResponsesList()) {
                rewards.put(Evaluation.key(s.getResponse().getPromptId(), s.getResponse().getSample()),
                        s.getLogpPolicy() - s.getLogpRef());
            }
        }
        double[][] r = new double[agreement.size()][];
        double[][] q = new double[agreement.size()][];
        for (int i = 0; i < agreement.size(); i++) {
            Prompt p = agreement.get(i);
            List<String> candidates = agreementCandidates.get(i);
            r[i] = new double[candidates.size()];
            q[i] = new double[candidates.size()];
            for (int j = 0; j < candidates.size(); j++) {
                r[i][j] = rewards.get(Evaluation.key(p.id(), j));
                q[i][j] = judge.quality(p, candidates.get(j), true);
            }
        }
        return Evaluation.rewardAgreement(r, q);
    }

    @Override
    public RoundFacts.Judged judged(RewardShapingActor.Shaped shaped, List<Candidate> valid, Map<String, String> texts) {
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
