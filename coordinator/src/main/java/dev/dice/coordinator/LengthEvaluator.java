package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredShard;
import dev.dice.task.Prompt;
import java.util.List;
import java.util.Map;

/** The evaluation of the user's own prompts, which have no judge: mean length only. */
final class LengthEvaluator implements Evaluator {

    @Override
    public Evaluation.Scores score(List<Response> responses, List<Response> baseline) {
        return Evaluation.lengthOnly(responses);
    }

    @Override
    public Double quality(Response response) {
        return null;
    }

    @Override
    public boolean checksAgreement() {
        return false;
    }

    @Override
    public List<Prompt> agreementPrompts() {
        return List.of();
    }

    @Override
    public List<List<String>> agreementCandidates() {
        return List.of();
    }

    @Override
    public double agreement(List<ScoredShard> scored) {
        throw new IllegalStateException("no judge to check the implicit reward against");
    }

    @Override
    public RoundFacts.Judged judged(RewardShapingActor.Shaped shaped, List<Candidate> valid, Map<String, String> texts) {
        return null;
    }
}
