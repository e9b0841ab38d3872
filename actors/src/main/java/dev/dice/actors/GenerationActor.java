package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.PromptShard;
import dev.dice.work.Policy;
import dev.dice.work.ShardGeneration;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.delivery.ConsumerController;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * A generation worker: holds a policy π_t on its device and samples K responses per prompt of each prompt shard it
 * pulls. A shard names the policy version that must serve it, its checkpoint, and — when the trainer serves that
 * version — the published weights, which the worker fetches rather than reads (the checkpoint if the fetch fails), and
 * the copy the coordinator's node serves, which a node without the checkpoint fetches ({@link ModelSource}).
 * The result carries the version and the SHA-256 of the weights that produced it. Spawn it on the model dispatcher:
 * sampling blocks its thread.
 */
public final class GenerationActor extends ShardWorker<PromptShard> {

    public static final ServiceKey<ConsumerController.Command<PromptShard>> KEY =
            ServiceKey.create(ConsumerController.serviceKeyClass(), "dice-generation");

    private final NDManager device;
    private final Tokenizer tokenizer;
    private final ShardGeneration generation;
    private final PolicyRef current;
    private final Duration fetchTimeout;
    private final Path runDir;
    private final WeightFetch fetch;
    private Policy policy;
    private Path policyDir;
    private String sha256;

    private GenerationActor(ActorContext<Command> context, TimerScheduler<Command> timers, NDManager device,
            Tokenizer tokenizer, ShardGeneration generation, PolicyRef current, Duration fetchTimeout,
            Duration resendAfter, Path runDir) {
        super(context, timers, resendAfter);
        this.device = device;
        this.tokenizer = tokenizer;
        this.generation = generation;
        this.current = current;
        this.fetchTimeout = fetchTimeout;
        this.runDir = runDir;
        this.fetch = new WeightFetch(context);
    }

    /**
     * @param current      the run's current policy, loaded before the first shard is taken; null when none is known
     * @param fetchTimeout longest wait for published weights before the checkpoint is read instead
     * @param resendAfter  how long a result waits for the coordinator's answer before it is sent again
     * @param runDir       the run directory on this node: a shard names the checkpoints inside it relative to it
     */
    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer, ShardGeneration generation,
            PolicyRef current, Duration fetchTimeout, Duration resendAfter, Path runDir) {
        return Behaviors.setup(context -> Behaviors.withTimers(timers -> new GenerationActor(context, timers, device,
                tokenizer, generation, current, fetchTimeout, resendAfter, runDir).start(KEY)));
    }

    @Override
    protected void preload() {
        if (current != null) {
            hold(ModelSource.onDisk(current.version(), current.dir()));
        }
    }

    @Override
    protected void preload(Coordination.CurrentModels models) {
        if (models.generation() != null) {
            hold(models.generation().in(runDir));
        }
    }

    @Override
    protected String describe(PromptShard shard) {
        return shard.getJob() + " shard " + shard.getShard() + " (generation, v" + shard.getPolicyVersion() + ", "
                + shard.getPromptsCount() + " prompts)";
    }

    @Override
    protected Coordination.Result perform(PromptShard shard, String worker, ActorRef<Coordination.Ack> replyTo) {
        hold(new ModelSource(shard.getPolicyVersion(), Path.of(shard.getPolicyDir()),
                shard.hasPolicyWeights() ? PublishedWeights.of(shard.getPolicyWeights()) : null,
                copy(shard.getPolicyVersion(), shard.hasPolicyCopy() ? PublishedWeights.of(shard.getPolicyCopy()) : null))
                .in(runDir));
        return new Coordination.Generated(generation.generate(policy, shard).toBuilder().setWeightsSha256(sha256).build(),
                worker, replyTo);
    }

    /** Switches to {@code version} unless held: shards are served one at a time, so a shard sees one version only. */
    private void hold(ModelSource model) {
        long version = model.version();
        if (policy != null && policy.version() == version && model.dir().equals(policyDir)) {
            return;
        }
        WeightFetch.Fetched fresh = model.load(fetch, fetchTimeout, tokenizer, device);
        release();
        policy = fresh.policy();
        policyDir = model.dir();
        sha256 = policy.weightsSha256();
        DiceMetrics.get().weightVersion.set(version);
        getContext().getLog().info("generator holds policy v{} (sha256 {}) from {}", version, sha256.substring(0, 12),
                fresh.source());
    }

    @Override
    protected void release() {
        if (policy != null) {
            policy.close();
            policy = null;
            policyDir = null;
        }
    }

    @Override
    protected void stopped() {
        fetch.close();
    }
}
