package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.work.Policy;
import dev.dice.work.ShardGeneration;
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
 * Holds the current policy π_t on its device and samples K responses per prompt, shard by shard. It serves
 * only shards of the version it holds; a shard for another version is refused, never served stale.
 * Spawn it on the model dispatcher: sampling blocks its thread.
 */
public final class GenerationActor extends AbstractBehavior<GenerationActor.Command> {

    public sealed interface Command {}

    /** Load the checkpoint in {@code dir} as policy version {@code version}, replacing what is held. */
    public record Load(Path dir, long version, ActorRef<Loaded> replyTo) implements Command, Wire {}

    /**
     * Take the published weights as the policy, unless their version is held already: fetched from the trainer
     * (the checkpoint in {@code checkpoint} if that fails) and switched to between two shards.
     */
    public record Sync(PublishedWeights weights, Path checkpoint, Duration timeout, ActorRef<Loaded> replyTo)
            implements Command, Wire {}

    public record Generate(PromptShard shard, ActorRef<Reply> replyTo) implements Command, Wire {}

    /** The version now held and the SHA-256 of its weights. */
    public record Loaded(long version, String sha256) implements Wire {}

    public sealed interface Reply {}

    /** {@code from}: the generator, free again for the next shard. */
    public record Generated(GeneratedShard shard, ActorRef<Command> from) implements Reply, Wire {}

    public record Refused(PromptShard shard, String reason, ActorRef<Command> from) implements Reply, Wire {}

    private final NDManager device;
    private final Tokenizer tokenizer;
    private final ShardGeneration generation;
    private final WeightFetch fetch;
    private Policy policy;
    private String sha256;

    private GenerationActor(ActorContext<Command> context, NDManager device, Tokenizer tokenizer,
            ShardGeneration generation) {
        super(context);
        this.device = device;
        this.tokenizer = tokenizer;
        this.generation = generation;
        this.fetch = new WeightFetch(context);
    }

    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer, ShardGeneration generation) {
        return Behaviors.setup(context -> new GenerationActor(context, device, tokenizer, generation));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Load.class, this::onLoad)
                .onMessage(Sync.class, this::onSync)
                .onMessage(Generate.class, this::onGenerate)
                .onSignal(PostStop.class, signal -> {
                    fetch.close();
                    return release();
                })
                .build();
    }

    private Behavior<Command> onLoad(Load load) {
        hold(Policy.load(load.dir(), tokenizer, device, load.version()), load.dir().toString());
        load.replyTo().tell(new Loaded(policy.version(), sha256));
        return this;
    }

    private Behavior<Command> onSync(Sync sync) {
        if (policy == null || policy.version() != sync.weights().version()) {
            WeightFetch.Fetched fetched = fetch.fetch(sync.weights(), sync.checkpoint(), sync.timeout(), tokenizer, device);
            hold(fetched.policy(), fetched.source());
        }
        sync.replyTo().tell(new Loaded(policy.version(), sha256));
        return this;
    }

    /** Switches to {@code fresh}: shards are served one at a time, so a shard sees one version only. */
    private void hold(Policy fresh, String from) {
        release();
        policy = fresh;
        sha256 = fresh.weightsSha256();
        DiceMetrics.get().weightVersion.set(fresh.version());
        getContext().getLog().info("generator holds policy v{} (sha256 {}) from {}", fresh.version(),
                sha256.substring(0, 12), from);
    }

    private Behavior<Command> onGenerate(Generate request) {
        PromptShard shard = request.shard();
        if (policy == null || policy.version() != shard.getPolicyVersion()) {
            request.replyTo().tell(new Refused(shard, "generator holds v" + (policy == null ? "none" : policy.version())
                    + ", shard wants v" + shard.getPolicyVersion(), getContext().getSelf()));
        } else {
            request.replyTo().tell(new Generated(generation.generate(policy, shard), getContext().getSelf()));
        }
        return this;
    }

    private Behavior<Command> release() {
        if (policy != null) {
            policy.close();
            policy = null;
        }
        return this;
    }
}
