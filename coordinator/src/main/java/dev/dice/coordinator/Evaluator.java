package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredShard;
import dev.dice.task.Prompt;
import java.util.List;
import java.util.Map;

/**
 * What a run can say about its responses beyond their length. The built-in task has a hidden judge
 * ({@link JudgedEvaluator}): win rates against π0, true quality, the implicit reward's agreement with the judge. The
 * user's own prompts have none ({@link LengthEvaluator}): lengths and the implicit reward's statistics only, and the
 * summary's judged fields stay empty.
 */
sealed interface Evaluator permits JudgedEvaluator, LengthEvaluator {

    /** A stage's scores; {@code responses} and {@code baseline} hold one response per eval prompt, in its order. */
    Evaluation.Scores score(List<Response> responses, List<Response> baseline);

    /** A response's true quality, for {@code eval.jsonl}; null when it is not known. */
    Double quality(Response response);

    /** Whether each stage after π0 scores held-out candidates to check its implicit reward against the truth. */
    boolean checksAgreement();

    /** The eval prompts with held-out candidates, and the candidates of each in its order; empty when unchecked. */
    List<Prompt> agreementPrompts();

    List<List<String>> agreementCandidates();

    /** The share of held-out candidate pairs the implicit reward, as scored, orders as the truth does. */
    double agreement(List<ScoredShard> scored);

    /** The truth about a round's valid samples and selected pairs; null when it is not known. */
    RoundFacts.Judged judged(RewardShapingActor.Shaped shaped, List<Candidate> valid, Map<String, String> texts);
}
