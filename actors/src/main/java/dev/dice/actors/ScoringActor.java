package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.ScoredShard;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
import java.nio.file.Path;
import java.time.Duration;
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

    /**
     * Take the published weights as π_t, unless their version is held already. The policy held until now becomes
     * the reference when it is π_{t−1}; otherwise the reference is read from {@code referenceDir}. The weights are
     * fetched from the trainer ({@code policyDir}'s checkpoint if that fails).
     */
    public record Sync(PublishedWeights weights, Path policyDir, Path referenceDir, Duration timeout,
            ActorRef<Loaded> replyTo) implements Command, Wire {}

    public record Score(GeneratedShard shard, ActorRef<Scored> replyTo) implements Command, Wire {}

    /** The policy version now held and the SHA-256 of its weights. */
    public record Loaded(long version, String sha256) implements Wire {}

    public record Scored(ScoredShard shard) implements Wire {}

    private final NDManager device;
    private final Tokenizer tokenizer;
    private final Scoring scoring;
    private final WeightFetch fetch;
    private Policy policy;
    private Policy reference;
    private String sha256;

    private ScoringActor(ActorContext<Command> context, NDManager device, Tokenizer tokenizer, Scoring scoring) {
        super(context);
        this.device = device;
        this.tokenizer = tokenizer;
        this.scoring = scoring;
        this.fetch = new WeightFetch(context);
    }

    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer, Scoring scoring) {
        return Behaviors.setup(context -> new ScoringActor(context, device, tokenizer, scoring));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Load.class, this::onLoad)
                .onMessage(Sync.class, this::onSync)
                .onMessage(Score.class, this::onScore)
                .onSignal(PostStop.class, signal -> {
                    fetch.close();
                    return release();
                })
                .build();
    }

    private Behavior<Command> onLoad(Load load) {
        Policy fresh = Policy.load(load.policyDir(), tokenizer, device, load.version());
        Policy ref = Policy.load(load.referenceDir(), tokenizer, device, load.version() - 1);
        release();
        hold(fresh, ref, load.policyDir().toString());
        load.replyTo().tell(new Loaded(policy.version(), sha256));
        return this;
    }

    private Behavior<Command> onSync(Sync sync) {
        long version = sync.weights().version();
        if (policy == null || policy.version() != version) {
            WeightFetch.Fetched fetched = fetch.fetch(sync.weights(), sync.policyDir(), sync.timeout(), tokenizer, device);
            Policy ref;
            if (policy != null && policy.version() == version - 1) {
                ref = policy; // π_t becomes the reference of π_{t+1}: no copy, no disk
                policy = null;
            } else {
                ref = Policy.load(sync.referenceDir(), tokenizer, device, version - 1);
            }
            release();
            hold(fetched.policy(), ref, fetched.source());
        }
        sync.replyTo().tell(new Loaded(policy.version(), sha256));
        return this;
    }

    /** Switches to {@code fresh} and {@code ref} between two shards. */
    private void hold(Policy fresh, Policy ref, String from) {
        policy = fresh;
        reference = ref;
        sha256 = fresh.weightsSha256();
        DiceMetrics.get().weightVersion.set(fresh.version());
        getContext().getLog().info("scorer holds policy v{} (sha256 {}) from {}", fresh.version(),
                sha256.substring(0, 12), from);
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
            policy = null;
        }
        if (reference != null) {
            reference.close();
            reference = null;
        }
        return this;
    }
}
