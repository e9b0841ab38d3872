package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.ScoredShard;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
import java.nio.file.Path;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Holds two models — the policy π_t and the reference π_{t−1} — and scores generated responses under both,
 * the two halves of the implicit reward. Spawn it on the model dispatcher.
 */
public final class ScoringActor extends AbstractBehavior<ScoringActor.Command> {

    public sealed interface Command {}

    /** Load π_t from {@code policyDir} (as version {@code version}) and π_{t−1} from {@code referenceDir}. */
    public record Load(Path policyDir, Path referenceDir, long version, ActorRef<Loaded> replyTo) implements Command, Wire {}

    public record Score(GeneratedShard shard, ActorRef<Scored> replyTo) implements Command, Wire {}

    public record Loaded(long version) implements Wire {}

    public record Scored(ScoredShard shard) implements Wire {}

    private final NDManager device;
    private final Tokenizer tokenizer;
    private final Scoring scoring;
    private Policy policy;
    private Policy reference;

    private ScoringActor(ActorContext<Command> context, NDManager device, Tokenizer tokenizer, Scoring scoring) {
        super(context);
        this.device = device;
        this.tokenizer = tokenizer;
        this.scoring = scoring;
    }

    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer, Scoring scoring) {
        return Behaviors.setup(context -> new ScoringActor(context, device, tokenizer, scoring));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Load.class, this::onLoad)
                .onMessage(Score.class, this::onScore)
                .onSignal(PostStop.class, signal -> release())
                .build();
    }

    private Behavior<Command> onLoad(Load load) {
        release();
        policy = Policy.load(load.policyDir(), tokenizer, device, load.version());
        reference = Policy.load(load.referenceDir(), tokenizer, device, load.version() - 1);
        load.replyTo().tell(new Loaded(load.version()));
        return this;
    }

    private Behavior<Command> onScore(Score request) {
        if (policy == null || policy.version() != request.shard().getPolicyVersion()) {
            throw new IllegalStateException("scorer holds v" + (policy == null ? "none" : policy.version())
                    + " but was sent a shard of v" + request.shard().getPolicyVersion());
        }
        request.replyTo().tell(new Scored(scoring.score(policy, reference, request.shard())));
        return this;
    }

    private Behavior<Command> release() {
        if (policy != null) {
            policy.close();
            reference.close();
            policy = null;
            reference = null;
        }
        return this;
    }
}
