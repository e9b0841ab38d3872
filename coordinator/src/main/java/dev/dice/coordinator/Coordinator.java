package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import dev.dice.actors.ModelCopies;
import dev.dice.actors.ReplayBuffer;
import dev.dice.actors.RewardShapingActor;
import dev.dice.actors.TrainerActor;
import dev.dice.algo.ReplayMix;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PairBatch;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredShard;
import dev.dice.task.OfflinePair;
import dev.dice.work.Training;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.BehaviorBuilder;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;
import org.apache.pekko.pattern.StatusReply;

/**
 * The DICE round state machine. Stages run in order — SFT → π0, DPO on D_off → π1, then each round t:
 * generate K samples per prompt with π_t, score them under π_t and π_{t−1}, shape (α*, chosen/rejected),
 * mix with replayed offline pairs, persist, DPO from π_t with π_t as reference → π_{t+1} — and every stage
 * ends with an evaluation. A stage whose model and evaluation are already in the run directory is skipped.
 *
 * <p>The coordinator runs as a cluster singleton. It registers with the receptionist so that workers can send it
 * their results, which it routes to the running {@link ShardJob}; trainers are found through the receptionist too.
 * A coordinator that takes over after a failover starts the current stage again: its shard jobs recover what the
 * journal holds, and a model already trained is not trained again.
 *
 * <p>Each state waits for one kind of answer; the plain bookkeeping (which prompts, what the files hold, how
 * metrics are computed) lives in {@link RunPlan}.
 */
public final class Coordinator {

    /** Local to the coordinator's node: never serialized. Workers' results arrive as {@link Coordination.Result}. */
    public sealed interface Command extends Coordination.Command, NoSerializationVerificationNeeded {}

    private record TrainerSaid(TrainerActor.Reply reply) implements Command {}

    private record TrainingDone(TrainingJob.Done done) implements Command {}

    private record JobDone(ShardJob.Done done) implements Command {}

    private record ShapedPairs(RewardShapingActor.Shaped shaped) implements Command {}

    private record Stored(StatusReply<Integer> ack) implements Command {}

    private record ReplayContents(ReplayBuffer.Contents contents) implements Command {}

    private record Trainers(Receptionist.Listing listing) implements Command {}

    /** A stage has waited a ring timeout for the run's trainers: from now on it trains on those listed. */
    private record TrainerWaitOver() implements Command {}

    private record MembershipChanged(ClusterEvent.MemberEvent event) implements Command {}

    /** Membership changes this coordinator saw: nodes up (itself and those present when it started included), removed. */
    public record Membership(int joins, int leaves) {}

    /** What the run produced, in stage order. */
    public record Finished(List<StageResult> stages, Membership membership) implements NoSerializationVerificationNeeded {}

    private final ActorContext<Coordination.Command> context;
    private final RunPlan plan;
    private final String runId;
    private final ActorRef<ReplayBuffer.Command> replay;
    private final ActorRef<RewardShapingActor.Command> shaper;
    private final ActorRef<Finished> replyTo;
    /** The published weights, the checkpoints and the copies served of them. */
    private final RunModels models;
    private final RunObserver observer = new RunObserver();
    private final List<StageResult> results = new ArrayList<>();
    private final ShardJobs jobs = new ShardJobs();
    private final ClusterView cluster;
    /** Starts a stage's training once enough trainers are listed, when it had to wait for them. */
    private Function<List<ActorRef<TrainerActor.Command>>, Behavior<Coordination.Command>> awaitingTrainers;
    private boolean trainerWaitStarted;
    private StageResult.ClusterFacts stageFacts = StageResult.ClusterFacts.NONE;
    /** The models the running job uses: a worker that joins asks for them. */
    private Coordination.CurrentModels current = Coordination.CurrentModels.NONE;
    private int jobCounter;

    private Coordinator(ActorContext<Coordination.Command> context, RunPlan plan, String runId,
            ActorRef<ReplayBuffer.Command> replay, ModelCopies copies, ActorRef<Finished> replyTo) {
        this.context = context;
        this.plan = plan;
        this.runId = runId;
        this.replay = replay;
        this.models = new RunModels(plan, copies);
        this.replyTo = replyTo;
        this.cluster = new ClusterView(context.getLog());
        this.shaper = context.spawn(RewardShapingActor.create(), "reward-shaping");
        context.watch(shaper);
    }

    /**
     * {@code replay}: the replay buffer (a cluster singleton's proxy); {@code runId} names the run in the journal;
     * {@code copies} serves the checkpoints of the run directory.
     */
    static Behavior<Coordination.Command> create(RunPlan plan, String runId, ActorRef<ReplayBuffer.Command> replay,
            ModelCopies copies, ActorRef<Finished> replyTo) {
        return Behaviors.setup(context -> {
            context.getSystem().receptionist().tell(Receptionist.register(Coordination.COORDINATOR, context.getSelf()));
            context.getSystem().receptionist().tell(Receptionist.subscribe(Coordination.TRAINERS,
                    context.messageAdapter(Receptionist.Listing.class, Trainers::new)));
            Cluster.get(context.getSystem()).subscriptions().tell(Subscribe.create(
                    context.messageAdapter(ClusterEvent.MemberEvent.class, MembershipChanged::new), ClusterEvent.MemberEvent.class));
            return new Coordinator(context, plan, runId, replay, copies, replyTo).nextStage();
        });
    }

    // ---- stage sequencing ----------------------------------------------------------------------------

    private Behavior<Coordination.Command> nextStage() {
        List<String> stages = plan.stages();
        for (int i = results.size(); i < stages.size(); i++) {
            String stage = stages.get(i);
            if (!plan.dir().finished(stage)) {
                context.getLog().info("stage {}: starting", stage);
                observer.stageStarted(stage);
                stageFacts = StageResult.ClusterFacts.NONE;
                return switch (i) {
                    case 0 -> sft();
                    case 1 -> dpo();
                    default -> round(i - 1);
                };
            }
            StageResult done = plan.dir().result(stage);
            context.getLog().info("stage {}: already finished in {}, skipped", stage, plan.dir().stage(stage));
            results.add(done);
        }
        replyTo.tell(new Finished(List.copyOf(results), cluster.membership()));
        return Behaviors.stopped();
    }

    private Behavior<Coordination.Command> sft() {
        long started = System.nanoTime();
        if (plan.userModel() != null) {
            context.getLog().info("stage sft: using the given model {} as π0", plan.userModel());
            return evaluate(0, started, null, null);
        }
        return trainOnRing(plan.sftTask(), log -> evaluate(0, started, log, null));
    }

    private Behavior<Coordination.Command> dpo() {
        if (plan.offline().needsSamples()) {
            return generate(Job.offlineSamples(), 0, plan.offlineSampleShards(), samples -> {
                plan.offline().build(samples);
                return dpo();
            });
        }
        long started = System.nanoTime();
        return scoreOnly(Job.offlineRefs(), 0, plan.offlineShards(Job.offlineRefs(), plan.offline().pairs(), 0), scored -> {
            List<PreferencePair> pairs = OfflineData.withReferences(plan.offline().pairs(), scored);
            return trainOnRing(plan.dpoTask("dpo", models.source(0), pairs), log -> evaluate(1, started, log, null));
        });
    }

    /** Round t (1-based): π_t generates; the implicit reward is log π_t − log π_{t−1}. */
    private Behavior<Coordination.Command> round(int t) {
        long started = System.nanoTime();
        String name = plan.stages().get(t + 1);
        return generateAndScore(Job.round(name), t, plan.roundShards(t), scored -> {
            Map<String, String> texts = plan.writeScored(name, scored);
            shaper.tell(new RewardShapingActor.Shape(scored, plan.config().rounds().k(),
                    plan.config().rounds().fixedAlpha(), context.messageAdapter(RewardShapingActor.Shaped.class,
                            ShapedPairs::new)));
            return shaping(name, t, started, texts);
        });
    }

    /** {@code texts}: the round's responses by (prompt id, sample), for its pairs. */
    private Behavior<Coordination.Command> shaping(String name, int t, long started, Map<String, String> texts) {
        return receive().onMessage(ShapedPairs.class, message -> {
            RewardShapingActor.Shaped shaped = message.shaped();
            observer.roundShaped(name, shaped);
            RunPlan.GeneratedPairs generated = plan.generatedPairs(name, shaped, texts);
            stageFacts = stageFacts.plusDuplicatesInPairs(generated.duplicatePrompts());
            ReplayMix.Mix<PreferencePair, OfflinePair> mix = plan.mix(name, generated);
            context.getLog().info("{}: α = {}, {} generated pairs (mean length gap {} at α, {} at α=0), mixed {} + {} offline",
                    name, fmt(shaped.alpha()), generated.pairs().size(), fmt(generated.facts().selection().meanLengthGapAtAlpha()),
                    fmt(generated.facts().selection().meanLengthGapAtZero()), mix.generated().size(), mix.offline().size());
            plan.requireGenerated(name, generated, mix);
            return scoreOnly(Job.replayRefs(name), t, plan.offlineShards(Job.replayRefs(name), mix.offline(), t), scored -> {
                List<PreferencePair> pairs = new ArrayList<>(mix.generated());
                pairs.addAll(OfflineData.withReferences(mix.offline(), scored));
                replay.tell(new ReplayBuffer.Append(PairBatch.newBuilder().setRound(name).addAllPairs(pairs).build(),
                        replayAcks()));
                return storing(name, t, started, generated.facts().withCounts(mix.generated().size(), mix.offline().size()));
            });
        }).build();
    }

    private Behavior<Coordination.Command> storing(String name, int t, long started, RoundFacts facts) {
        return receive()
                .onMessage(Stored.class, message -> {
                    if (message.ack().isError()) {
                        throw new IllegalStateException(name + ": replay buffer refused the pairs: "
                                + message.ack().getError().getMessage());
                    }
                    // Train on what the buffer holds: after a restart that is exactly what was acknowledged.
                    replay.tell(new ReplayBuffer.Get(name, context.messageAdapter(ReplayBuffer.Contents.class,
                            ReplayContents::new)));
                    return Behaviors.same();
                })
                .onMessage(ReplayContents.class, message -> {
                    context.getLog().info("{}: replay buffer holds {} pairs for the round ({} in all)", name,
                            message.contents().pairs().size(), message.contents().totalPairs());
                    observer.replayStored(name, message.contents().pairs().size(), message.contents().totalPairs());
                    List<PreferencePair> pairs = message.contents().pairs();
                    return trainOnRing(plan.dpoTask(name, models.source(t), pairs),
                            log -> evaluate(t + 1, started, log, facts));
                })
                .build();
    }

    // ---- evaluation -------------------------------------------------------------------------------------

    /** Evaluates the model of stage index {@code s} (0 = sft), records its row and moves on. */
    private Behavior<Coordination.Command> evaluate(int s, long started, List<Training.Step> log,
            RoundFacts facts) {
        String name = plan.stages().get(s);
        return withBaseline(s, () -> generate(Job.eval(name), s, plan.evalShards(Job.eval(name), s), generated -> {
            List<Response> responses = RunPlan.responses(generated);
            if (s == 0 || !plan.checksAgreement()) {
                return record(plan.stageResult(name, responses, null, log, facts, started));
            }
            return scoreOnly(Job.agreement(name), s, plan.agreementShards(Job.agreement(name), s), scored ->
                    record(plan.stageResult(name, responses, scored, log, facts, started)));
        }));
    }

    /** π0's responses to the eval prompts are the fixed baseline; they are sampled once, with π0. */
    private Behavior<Coordination.Command> withBaseline(int s, Supplier<Behavior<Coordination.Command>> then) {
        if (plan.hasBaseline()) {
            return then.get();
        }
        if (s != 0) {
            throw new IllegalStateException("the baseline must be sampled with π0");
        }
        return generate(Job.baseline(), 0, plan.evalShards(Job.baseline(), 0), generated -> {
            plan.saveBaseline(RunPlan.responses(generated));
            return then.get();
        });
    }

    private Behavior<Coordination.Command> record(StageResult result) {
        StageResult withFacts = result.withCluster(stageFacts).withCpu(observer.stageCpu());
        plan.saveResult(withFacts);
        results.add(withFacts);
        observer.stageFinished(withFacts);
        context.getLog().info("stage {}: done — {}", withFacts.name(), Summary.line(withFacts));
        return nextStage();
    }

    // ---- training ------------------------------------------------------------------------------------------

    /**
     * Trains {@code task}'s stage on a ring of the run's trainers (one: a ring of one), waiting for them while they are
     * not listed, unless its model is already trained: a coordinator that took over mid-stage reuses it.
     */
    private Behavior<Coordination.Command> trainOnRing(TrainingJob.Task task,
            Function<List<Training.Step>, Behavior<Coordination.Command>> then) {
        String stage = task.stage();
        List<Training.Step> done = plan.dir().trainedLog(stage);
        if (done != null) {
            context.getLog().info("stage {}: the model in {} is already trained, reused", stage, plan.dir().model(stage));
            return then.apply(done);
        }
        Function<List<ActorRef<TrainerActor.Command>>, Behavior<Coordination.Command>> begin = listed -> {
            context.watch(context.spawn(TrainingJob.create(task, List.copyOf(listed), plan.ringSettings(),
                    trainerReplies(), context.messageAdapter(TrainingJob.Done.class, TrainingDone::new)),
                    "training-" + (++jobCounter)));
            return training(task, then);
        };
        if (enoughTrainers()) {
            return begin.apply(cluster.pick(plan.config().trainers().count()));
        }
        context.getLog().info("stage {}: waiting for {} trainer(s), {} listed", stage, plan.config().trainers().count(),
                cluster.trainers().size());
        awaitingTrainers = begin;
        if (!trainerWaitStarted) {
            trainerWaitStarted = true;
            context.scheduleOnce(plan.config().trainers().ringTimeout(), context.getSelf(), new TrainerWaitOver());
        }
        return receive().build();
    }

    private boolean enoughTrainers() {
        return cluster.enoughTrainers(plan.config().trainers().count());
    }

    /**
     * Waits for a stage's training job, showing its progress; then, when rank 0 wrote the model on another node (the
     * run directory is not shared), fetches it into the run directory.
     */
    private Behavior<Coordination.Command> training(TrainingJob.Task task,
            Function<List<Training.Step>, Behavior<Coordination.Command>> then) {
        String stage = task.stage();
        Progress progress = new Progress(stage, "step", task.settings().steps());
        return receive()
                .onMessage(TrainerSaid.class, message -> {
                    if (message.reply() instanceof TrainerActor.Progress p) {
                        progress.advance(p.step().step(), Summary.trainingLine(p.step()));
                        observer.trainingStep(stage, p.step());
                    }
                    return Behaviors.same();
                })
                .onMessage(TrainingDone.class, message -> {
                    TrainingJob.Done done = message.done();
                    models.trained(task, done.trained());
                    stageFacts = stageFacts.plus(done);
                    if (done.rings() > 1) {
                        context.getLog().warn("stage {}: trained on {} ring(s), finishing with {} trainer(s)", stage,
                                done.rings(), done.trainers().size());
                    }
                    return then.apply(done.trained().log());
                })
                .build();
    }

    // ---- shard jobs ---------------------------------------------------------------------------------------------

    private Behavior<Coordination.Command> generate(Job job, long version, List<PromptShard> shards,
            Function<List<GeneratedShard>, Behavior<Coordination.Command>> then) {
        return runJob(JobSpec.generate(job.name(), version, shards), done -> then.apply(done.generated()));
    }

    private Behavior<Coordination.Command> generateAndScore(Job job, int version, List<PromptShard> shards,
            Function<List<ScoredShard>, Behavior<Coordination.Command>> then) {
        return runJob(JobSpec.generateAndScore(job.name(), version, shards, plan.scoring(version)),
                done -> then.apply(done.scored()));
    }

    private Behavior<Coordination.Command> scoreOnly(Job job, int version, List<GeneratedShard> shards,
            Function<List<ScoredShard>, Behavior<Coordination.Command>> then) {
        return runJob(JobSpec.scoreOnly(job.name(), version, shards, plan.scoring(version)),
                done -> then.apply(done.scored()));
    }

    /**
     * Starts a job — with the weights the trainer published when they are the job's version, the copies this node
     * serves of its checkpoints, and the stamp of its checkpoints — records the models it uses for nodes that join,
     * and waits for it to finish.
     */
    private Behavior<Coordination.Command> runJob(JobSpec plain,
            Function<ShardJob.Done, Behavior<Coordination.Command>> then) {
        JobSpec spec = models.forJob(plain);
        current = spec.currentAfter(current);
        ActorRef<ShardJob.Command> job = context.spawn(ShardJob.create(spec, runId, plan.config().waits().queueStoreTimeout(),
                context.messageAdapter(ShardJob.Done.class, JobDone::new)), "job-" + (++jobCounter) + "-" + spec.name());
        context.watch(job);
        jobs.started(spec.name(), job);
        return receive().onMessage(JobDone.class, message -> {
            ShardJob.Done done = message.done();
            jobs.finished(done.job());
            stageFacts = stageFacts.plus(done.facts());
            return then.apply(done);
        }).build();
    }

    /** A worker's result goes to the running job it belongs to, or is answered: stale, or later. */
    private Behavior<Coordination.Command> route(Coordination.Result result) {
        jobs.deliver(result, plan).ifPresent(outcome -> {
            if (outcome == Coordination.Outcome.STALE) {
                stageFacts = stageFacts.plusStale(1);
                context.getLog().info("rejected a stale result: {} shard {} ({}) from {}, policy v{}", result.job(),
                        result.shardIndex(), result.scoring() ? "scoring" : "generation", result.worker(),
                        result.policyVersion());
            }
            result.replyTo().tell(new Coordination.Ack(result.job(), result.scoring(), result.shardIndex(), outcome));
        });
        return Behaviors.same();
    }

    // ---- every state -----------------------------------------------------------------------------------------

    /**
     * Every state's receive: results are routed, trainers and members tracked; a child that failed fails the run (a
     * training job re-forms its ring without a trainer lost, and fails only when none is left).
     */
    private BehaviorBuilder<Coordination.Command> receive() {
        return Behaviors.receive(Coordination.Command.class)
                .onMessage(Coordination.Result.class, this::route)
                .onMessage(Coordination.AskCurrentModels.class, ask -> {
                    ask.replyTo().tell(current);
                    return Behaviors.same();
                })
                .onMessage(Trainers.class, message -> {
                    cluster.listed(message.listing());
                    return startAwaitedTraining();
                })
                .onMessage(TrainerWaitOver.class, message -> {
                    cluster.trainerWaitOver();
                    return startAwaitedTraining();
                })
                .onMessage(MembershipChanged.class, message -> {
                    cluster.changed(message.event());
                    return Behaviors.same();
                })
                .onSignal(Terminated.class, signal -> {
                    if (signal instanceof ChildFailed failed) {
                        throw new IllegalStateException(failed.getRef().path().name() + " failed: "
                                + failed.getCause().getMessage(), failed.getCause());
                    }
                    return Behaviors.same();
                });
    }

    private Behavior<Coordination.Command> startAwaitedTraining() {
        if (awaitingTrainers == null || !enoughTrainers()) {
            return Behaviors.same();
        }
        Function<List<ActorRef<TrainerActor.Command>>, Behavior<Coordination.Command>> begin = awaitingTrainers;
        awaitingTrainers = null;
        return begin.apply(cluster.pick(plan.config().trainers().count()));
    }

    private ActorRef<TrainerActor.Reply> trainerReplies() {
        return context.messageAdapter(TrainerActor.Reply.class, TrainerSaid::new);
    }

    /** An adapter for the buffer's acknowledgements (a generic reply type needs the raw class). */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private ActorRef<StatusReply<Integer>> replayAcks() {
        return (ActorRef) context.messageAdapter(StatusReply.class, ack -> new Stored((StatusReply<Integer>) ack));
    }

    private static String fmt(double x) {
        return String.format("%.4f", x);
    }
}
