package dev.dice.actors;

import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import dev.dice.algo.Pair;
import dev.dice.algo.PairSelection;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalDouble;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Turns a round's scored responses into preference pairs: finds α* (the exact minimiser of the mean
 * chosen−rejected length gap, by breakpoint sweep) unless α is fixed, then picks per prompt the argmax
 * and argmin of the length-regularised implicit reward. Lengths are in tokens.
 */
public final class RewardShapingActor {

    /** The shaper runs beside the coordinator (it is pure CPU work on data the coordinator holds). */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    /** {@code fixedAlpha} empty: search α*. */
    public record Shape(List<ScoredShard> shards, int samplesPerPrompt, OptionalDouble fixedAlpha,
            ActorRef<Shaped> replyTo) implements Command {}

    /** The chosen α, the search that found it (null when fixed), the pairs and every candidate considered. */
    public record Shaped(double alpha, AlphaSearch.Result search, List<Pair> pairs, List<Candidate> candidates)
            implements NoSerializationVerificationNeeded {}

    private RewardShapingActor() {}

    public static Behavior<Command> create() {
        return Behaviors.receive(Command.class).onMessage(Shape.class, RewardShapingActor::onShape).build();
    }

    private static Behavior<Command> onShape(Shape request) {
        List<Candidate> candidates = candidates(request.shards());
        int minValid = PairSelection.minValidFor(request.samplesPerPrompt());
        AlphaSearch.Result search = null;
        double alpha;
        if (request.fixedAlpha().isPresent()) {
            alpha = request.fixedAlpha().getAsDouble();
        } else {
            search = AlphaSearch.search(candidates, minValid);
            alpha = search.alpha();
        }
        List<Pair> pairs = PairSelection.select(candidates, alpha, minValid);
        request.replyTo().tell(new Shaped(alpha, search, pairs, candidates));
        return Behaviors.same();
    }

    static List<Candidate> candidates(List<ScoredShard> shards) {
        List<Candidate> out = new ArrayList<>();
        for (ScoredShard shard : shards) {
            for (ScoredResponse s : shard.getResponsesList()) {
                out.add(new Candidate(s.getResponse().getPromptId(), s.getResponse().getSample(), s.getLogpPolicy(),
                        s.getLogpRef(), s.getResponse().getTokens(), s.getResponse().getValid()));
            }
        }
        return out;
    }
}
