package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.ScoreRequest;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
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
 * A scoring worker: holds two models — the policy π_t and the reference π_{t−1} — and scores the responses of each
 * generated shard it pulls under both, the two halves of the implicit reward. A request names both versions and their
 * checkpoints (and the policy's published weights, fetched rather than read when the trainer serves them, and the
 * copies the coordinator's node serves, which a node without the checkpoints fetches); when the
 * policy held is the new reference it is kept as such, neither copied nor read again. The result carries the policy
 * version and the SHA-256 of its weights. Spawn it on the model dispatcher.
 */
public final class ScoringActor extends ShardWorker<ScoreRequest> {

    public static final ServiceKey<ConsumerController.Command<ScoreRequest>> KEY =
            ServiceKey.create(ConsumerController.serviceKeyClass(), "dice-scoring");

    /** The two models a scorer holds. */
    public record Models(PolicyRef policy, PolicyRef reference) {}

    private final NDManager device;
    private final Tokenizer tokenizer;
    private final Scoring scoring;
    private final Models current;
    private final Duration fetchTimeout;
    private final Path runDir;
    private final WeightFetch fetch;
    /**
     * The reference's own: it comes from another source than the policy (the coordinator's node), and a relay kept per
     * source keeps serving the nodes routed through it.
     */
    private final WeightFetch referenceFetch;
    private Models held;
    private Policy policy;
    private Policy reference;
    private String sha256;

    private ScoringActor(ActorContext<Command> context, TimerScheduler<Command> timers, NDManager device,
            Tokenizer tokenizer, Scoring scoring, Models current, Duration fetchTimeout, Duration resendAfter,
            Path runDir) {
        super(context, timers, resendAfter);
        this.device = device;
        this.tokenizer = tokenizer;
        this.scoring = scoring;
        this.current = current;
        this.fetchTimeout = fetchTimeout;
        this.runDir = runDir;
        this.fetch = new WeightFetch(context);
        this.referenceFetch = new WeightFetch(context);
    }

    /**
     * @param current      the run's current models, loaded before the first shard is taken; null when none are known
     * @param fetchTimeout longest wait for published weights before the checkpoint is read instead
     * @param resendAfter  how long a result waits for the coordinator's answer before it is sent again
     * @param runDir       the run directory on this node: a request names the checkpoints inside it relative to it
     */
    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer, Scoring scoring, Models current,
            Duration fetchTimeout, Duration resendAfter, Path runDir) {
        return Behaviors.setup(context -> Behaviors.withTimers(timers -> new ScoringActor(context, timers, device,
                tokenizer, scoring, current, fetchTimeout, resendAfter, runDir).start(KEY)));
    }

    @Override
    protected void preload() {
        if (current != null) {
            hold(ModelSource.onDisk(current.policy().version(), current.policy().dir()),
                    ModelSource.onDisk(current.reference().version(), current.reference().dir()));
        }
    }

    @Override
    protected void preload(Coordination.CurrentModels models) {
        if (models.scoringPolicy() != null && models.scoringReference() != null) {
            hold(models.scoringPolicy().in(runDir), models.scoringReference().in(runDir));
        }
    }

    @Override
    protected String describe(ScoreRequest request) {
        return request.getShard().getJob() + " shard " + request.getShard().getShard() + " (scoring, v"
                + request.getShard().getPolicyVersion() + ", " + request.getShard().getResponsesCount() + " responses)";
    }

    @Override
    protected Coordination.Result perform(ScoreRequest request, String worker, ActorRef<Coordination.Ack> replyTo) {
        hold(new ModelSource(request.getShard().getPolicyVersion(), Path.of(request.getPolicyDir()),
                request.hasPolicyWeights() ? PublishedWeights.of(request.getPolicyWeights()) : null,
                copy(request.getShard().getPolicyVersion(), request.hasPolicyCopy()
                        ? PublishedWeights.of(request.getPolicyCopy()) : null)).in(runDir),
                new ModelSource(request.getReferenceVersion(), Path.of(request.getReferenceDir()), null,
                        copy(request.getReferenceVersion(), request.hasReferenceCopy()
                                ? PublishedWeights.of(request.getReferenceCopy()) : null)).in(runDir));
        return new Coordination.Scored(scoring.score(policy, reference, request.getShard()).toBuilder()
                .setWeightsSha256(sha256).build(), worker, replyTo);
    }

    private void hold(ModelSource policySource, ModelSource referenceSource) {
        Models models = new Models(policySource.ref(), referenceSource.ref());
        if (models.equals(held)) {
            return;
        }
        PolicyRef p = models.policy();
        WeightFetch.Fetched fresh = policySource.load(fetch, fetchTimeout, tokenizer, device);
        Policy ref;
        if (held != null && held.policy().version() == models.reference().version()) {
            ref = policy; // π_t becomes the reference of π_{t+1}: no copy, no disk
            policy = null;
        } else {
            ref = referenceSource.load(referenceFetch, fetchTimeout, tokenizer, device).policy();
        }
        release();
        policy = fresh.policy();
        reference = ref;
        held = models;
        sha256 = policy.weightsSha256();
        DiceMetrics.get().weightVersion.set(p.version());
        getContext().getLog().info("scorer holds policy v{} (sha256 {}) from {} and reference v{}", p.version(),
                sha256.substring(0, 12), fresh.source(), models.reference().version());
    }

    @Override
    protected void release() {
        if (policy != null) {
            policy.close();
            policy = null;
        }
        if (reference != null) {
            reference.close();
            reference = null;
        }
        held = null;
    }

    @Override
    protected void stopped() {
        fetch.close();
        referenceFetch.close();
    }
}
