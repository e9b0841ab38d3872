package dev.dice.coordinator;

import dev.dice.actors.GenerationActor;
import dev.dice.actors.PublishedWeights;
import dev.dice.actors.ReplayBuffer;
import dev.dice.actors.RewardShapingActor;
import dev.dice.actors.ScoringActor;
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
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.BehaviorBuilder;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.pattern.StatusReply;

/**
 * The DICE round state machine. Stages run in order — SFT → π0, DPO on D_off → π1, then each round t:
 * generate K samples per prompt with π_t, score them under π_t and π_{t−1}, shape (α*, chosen/rejected),
 * mix with replayed offline pairs, persist, DPO from π_t with π_t as reference → π_{t+1} — and every stage
 * ends with an evaluation. A stage whose model and evaluation are already in the run directory is skipped.
 *
 * <p>Each state waits for one kind of answer from the workers; the plain bookkeeping (which prompts, what
 * the files hold, how metrics are computed) lives in {@link RunPlan}.
 */
public final class Coordinator {

    /** Local to the coordinator's node: never serialized. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    private record TrainerSaid(TrainerActor.Reply reply) implements Command {}

    private record TrainingDone(TrainingJob.Done done) implements Command {}

    private record JobDone(ShardJob.Done done) implements Command {}

    private record GeneratorLoaded(GenerationActor.Loaded loaded) implements Command {}

    private record ScorerLoaded(ScoringActor.Loaded loaded) implements Command {}

    private record ShapedPairs(RewardShapingActor.Shaped shaped) implements Command {}

    private record Stored(StatusReply<Integer> ack) implements Command {}

    private record ReplayContents(ReplayBuffer.Contents contents) implements Command {}

    /** What the run produced, in stage order. */
    public record Finished(List<StageResult> stages) implements NoSerializationVerificationNeeded {}

    /** The workers the coordinator drives. */
    public record Workers(List<ActorRef<GenerationActor.Command>> generators, List<ActorRef<ScoringActor.Command>> scorers,
            ActorRef<RewardShapingActor.Command> shaper, ActorRef<ReplayBuffer.Command> replay,
            List<ActorRef<TrainerActor.Command>> trainers) {}

    private final ActorContext<Command> context;
    private final RunPlan plan;
    private final Workers workers;
    private final ActorRef<Finished> replyTo;
    private final List<StageResult> results = new ArrayList<>();
    /** The trainers still alive: a DPO stage's ring is formed from them. */
    private final List<ActorRef<TrainerActor.Command>> trainers;
    /** The trainer running SFT, while it does: SFT cannot move to another trainer. */
    private ActorRef<TrainerActor.Command> sftTrainer;
    /** The weights the last training published: generators and scorers fetch them instead of reading the checkpoint. */
    private PublishedWeights published;
    private int jobCounter;

    private Coordinator(ActorContext<Command> context, RunPlan plan, Workers workers, ActorRef<Finished> replyTo) {
        this.context = context;
        this.plan = plan;
        this.workers = workers;
        this.replyTo = replyTo;
        this.trainers = new ArrayList<>(workers.trainers());
        trainers.forEach(context::watch);
    }

    public static Behavior<Command> create(RunPlan plan, Workers workers, ActorRef<Finished> replyTo) {
        return Behaviors.setup(context -> new Coordinator(context, plan, workers, replyTo).nextStage());
    }

    // ---- stage sequencing ----------------------------------------------------------------------------

    private Behavior<Command> nextStage() {
        List<String> stages = plan.stages();
        for (int i = results.size(); i < stages.size(); i++) {
            String stage = stages.get(i);
            if (!plan.dir().finished(stage)) {
                context.getLog().info("stage {}: starting", stage);
                RunObserver.stageStarted(stage);
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
        replyTo.tell(new Finished(List.copyOf(results)));
        return Behaviors.stopped();
    }

    private Behavior<Command> sft() {
        long started = System.nanoTime();
        if (plan.userModel() != null) {
            context.getLog().info("stage sft: using the given model {} as π0", plan.userModel());
            return evaluate(0, started, null, null);
        }
        List<Training.Example> examples = plan.sftExamples();
        Training.Settings settings = plan.config().sft().settings(plan.seed("sft"), examples.size());
        sftTrainer = trainers.get(0);
        sftTrainer.tell(new TrainerActor.TrainSft(null, plan.config().model().builtin(), examples, settings,
                plan.dir().model("sft"), 0, trainerReplies()));
        return training("sft", settings.steps(), log -> {
            sftTrainer = null;
            return evaluate(0, started, log, null);
        });
    }

    private Behavior<Command> dpo() {
        if (plan.offlineNeedsSamples()) {
            return loadGenerators(plan.modelDir(0), 0, () -> generate("offline-samples", plan.offlineSampleShards(),
                    samples -> {
                        plan.buildOffline(samples);
                        return dpo();
                    }));
        }
        long started = System.nanoTime();
        Path pi0 = plan.modelDir(0);
        return loadScorers(pi0, pi0, 0, () -> scoreOnly("offline-refs", plan.offlineShards(0), scored -> {
            List<PreferencePair> pairs = plan.offlineWithReferences(plan.offlinePairs(), scored);
            Training.Settings settings = plan.config().dpo().settings(plan.seed("dpo"), pairs.size());
            return trainDpo(new TrainingJob.Task("dpo", pi0, pairs, settings, 1, plan.dir().model("dpo")),
                    log -> evaluate(1, started, log, null));
        }));
    }

    /** Round t (1-based): π_t generates; the implicit reward is log π_t − log π_{t−1}. */
    private Behavior<Command> round(int t) {
        long started = System.nanoTime();
        String name = plan.stages().get(t + 1);
        Path policy = plan.modelDir(t);
        Path previous = plan.modelDir(t - 1);
        return loadGenerators(policy, t, () -> loadScorers(policy, previous, t,
                () -> generateAndScore(name, plan.roundShards(t), scored -> {
                    plan.writeScored(name, scored);
                    workers.shaper().tell(new RewardShapingActor.Shape(scored, plan.config().rounds().k(),
                            plan.config().rounds().fixedAlpha(), context.messageAdapter(RewardShapingActor.Shaped.class,
                                    ShapedPairs::new)));
                    return shaping(name, t, started);
                })));
    }

    private Behavior<Command> shaping(String name, int t, long started) {
        return receive().onMessage(ShapedPairs.class, message -> {
            RewardShapingActor.Shaped shaped = message.shaped();
            RunObserver.roundShaped(name, shaped);
            RunPlan.GeneratedPairs generated = plan.generatedPairs(name, shaped);
            ReplayMix.Mix<PreferencePair, OfflinePair> mix = ReplayMix.mix(generated.pairs(),
                    plan.offlinePairs(), PreferencePair::getPromptId, OfflinePair::promptId,
                    plan.config().rounds().gamma(), plan.seed(name + "-mix"));
            context.getLog().info("{}: α = {}, {} generated pairs (mean length gap {} at α, {} at α=0), mixed {} + {} offline",
                    name, fmt(shaped.alpha()), generated.pairs().size(), fmt(generated.facts().gapAtAlpha()),
                    fmt(generated.facts().gapAtZero()), mix.generated().size(), mix.offline().size());
            return scoreOnly(name + "-replay-refs", plan.offlineShardsFor(mix.offline(), t), scored -> {
                List<PreferencePair> pairs = new ArrayList<>(mix.generated());
                pairs.addAll(plan.offlineWithReferences(mix.offline(), scored));
                workers.replay().tell(new ReplayBuffer.Append(PairBatch.newBuilder().setRound(name).addAllPairs(pairs).build(),
                        replayAcks()));
                return storing(name, t, started, generated.facts().withCounts(mix.generated().size(), mix.offline().size()));
            });
        }).build();
    }

    private Behavior<Command> storing(String name, int t, long started, StageResult.RoundFacts facts) {
        return receive()
                .onMessage(Stored.class, message -> {
                    if (message.ack().isError()) {
                        throw new IllegalStateException(name + ": replay buffer refused the pairs: "
                                + message.ack().getError().getMessage());
                    }
                    // Train on what the buffer holds: after a restart that is exactly what was acknowledged.
                    workers.replay().tell(new ReplayBuffer.Get(name,
                            context.messageAdapter(ReplayBuffer.Contents.class, ReplayContents::new)));
                    return Behaviors.same();
                })
                .onMessage(ReplayContents.class, message -> {
                    context.getLog().info("{}: replay buffer holds {} pairs for the round ({} in all)", name,
                            message.contents().pairs().size(), message.contents().totalPairs());
                    RunObserver.replayStored(name, message.contents().pairs().size(), message.contents().totalPairs());
                    List<PreferencePair> pairs = message.contents().pairs();
                    Training.Settings settings = plan.config().rounds().training().settings(plan.seed(name), pairs.size());
                    return trainDpo(new TrainingJob.Task(name, plan.modelDir(t), pairs, settings, t + 1,
                            plan.dir().model(name)), log -> evaluate(t + 1, started, log, facts));
                })
                .build();
    }

    // ---- evaluation -------------------------------------------------------------------------------------

    /** Evaluates the model of stage index {@code s} (0 = sft), records its row and moves on. */
    private Behavior<Command> evaluate(int s, long started, List<Training.Step> log, StageResult.RoundFacts facts) {
        String name = plan.stages().get(s);
        Path model = plan.modelDir(s);
        return loadGenerators(model, s, () -> withBaseline(s, () ->
                generate("eval-" + name, plan.evalShards(s, name), generated -> {
                    List<Response> responses = RunPlan.responses(generated);
                    if (s == 0 || plan.judge() == null) {
                        return record(plan.stageResult(name, responses, null, log, facts, started));
                    }
                    return loadScorers(model, plan.modelDir(s - 1), s, () ->
                            scoreOnly("agreement-" + name, plan.agreementShards(s), scored ->
                                    record(plan.stageResult(name, responses, scored, log, facts, started))));
                })));
    }

    /** π0's responses to the eval prompts are the fixed baseline; they are sampled once, with π0 loaded. */
    private Behavior<Command> withBaseline(int s, Supplier<Behavior<Command>> then) {
        if (plan.hasBaseline()) {
            return then.get();
        }
        if (s != 0) {
            throw new IllegalStateException("the baseline must be sampled while π0 is loaded");
        }
        return generate("baseline", plan.evalShards(0, "baseline"), generated -> {
            plan.saveBaseline(RunPlan.responses(generated));
            return then.get();
        });
    }

    private Behavior<Command> record(StageResult result) {
        plan.dir().saveResult(result);
        results.add(result);
        RunObserver.stageFinished(result);
        context.getLog().info("stage {}: done — {}", result.name(), Summary.line(result));
        return nextStage();
    }

    // ---- waiting on workers -------------------------------------------------------------------------------

    /** DPO on a ring of the trainers still alive (one trainer: a ring of one). */
    private Behavior<Command> trainDpo(TrainingJob.Task task, Function<List<Training.Step>, Behavior<Command>> then) {
        RunConfig.Trainers ring = plan.config().trainers();
        context.watch(context.spawn(TrainingJob.create(task, List.copyOf(trainers),
                new TrainingJob.RingSettings(ring.ringTimeout(), ring.checkEvery()), trainerReplies(),
                context.messageAdapter(TrainingJob.Done.class, TrainingDone::new)), "training-" + (++jobCounter)));
        return training(task.stage(), task.settings().steps(), then);
    }

    /** Waits for a stage's training: SFT answers itself, a DPO stage through its training job. */
    private Behavior<Command> training(String stage, int steps, Function<List<Training.Step>, Behavior<Command>> then) {
        Progress progress = new Progress(stage, "step", steps);
        return receive()
                .onMessage(TrainerSaid.class, message -> {
                    if (message.reply() instanceof TrainerActor.Progress p) {
                        progress.advance(p.step().step(), Summary.trainingLine(p.step()));
                        RunObserver.trainingStep(stage, p.step());
                        return Behaviors.same();
                    }
                    TrainerActor.Trained trained = (TrainerActor.Trained) message.reply();
                    published = trained.weights();
                    return then.apply(trained.log());
                })
                .onMessage(TrainingDone.class, message -> {
                    TrainingJob.Done done = message.done();
                    trainers.retainAll(done.trainers());
                    published = done.trained().weights();
                    if (done.rings() > 1) {
                        context.getLog().warn("stage {}: trained on {} ring(s), finishing with {} trainer(s)", stage,
                                done.rings(), done.trainers().size());
                    }
                    return then.apply(done.trained().log());
                })
                .build();
    }

    /** Gives the generators the model of stage {@code version}: the published weights if they are those, else the checkpoint. */
    private Behavior<Command> loadGenerators(Path dir, long version, Supplier<Behavior<Command>> then) {
        ActorRef<GenerationActor.Loaded> reply = context.messageAdapter(GenerationActor.Loaded.class, GeneratorLoaded::new);
        PublishedWeights weights = publishedAt(version);
        workers.generators().forEach(g -> g.tell(weights != null
                ? new GenerationActor.Sync(weights, dir, plan.config().trainers().ringTimeout(), reply)
                : new GenerationActor.Load(dir, version, reply)));
        return awaitLoaded(GeneratorLoaded.class, m -> m.loaded().version(), m -> m.loaded().sha256(),
                workers.generators().size(), "generator", version, weights, then);
    }

    private Behavior<Command> loadScorers(Path policy, Path reference, long version, Supplier<Behavior<Command>> then) {
        ActorRef<ScoringActor.Loaded> reply = context.messageAdapter(ScoringActor.Loaded.class, ScorerLoaded::new);
        PublishedWeights weights = publishedAt(version);
        workers.scorers().forEach(s -> s.tell(weights != null
                ? new ScoringActor.Sync(weights, policy, reference, plan.config().trainers().ringTimeout(), reply)
                : new ScoringActor.Load(policy, reference, version, reply)));
        return awaitLoaded(ScorerLoaded.class, m -> m.loaded().version(), m -> m.loaded().sha256(),
                workers.scorers().size(), "scorer", version, weights, then);
    }

    private PublishedWeights publishedAt(long version) {
        return published != null && published.version() == version ? published : null;
    }

    /** Waits for {@code count} workers to hold {@code version} — with exactly the published weights when synced. */
    private <M extends Command> Behavior<Command> awaitLoaded(Class<M> type, Function<M, Long> versionOf,
            Function<M, String> shaOf, int count, String kind, long version, PublishedWeights weights,
            Supplier<Behavior<Command>> then) {
        int[] seen = {0};
        return receive().onMessage(type, message -> {
            if (versionOf.apply(message) != version
                    || weights != null && !weights.sha256().equals(shaOf.apply(message))) {
                throw new IllegalStateException("a " + kind + " holds v" + versionOf.apply(message) + " (sha256 "
                        + shaOf.apply(message) + "), expected v" + version
                        + (weights == null ? "" : " as published (sha256 " + weights.sha256() + ")"));
            }
            return ++seen[0] < count ? Behaviors.same() : then.get();
        }).build();
    }

    private Behavior<Command> generate(String job, List<PromptShard> shards,
            Function<List<GeneratedShard>, Behavior<Command>> then) {
        spawnJob(ShardJob.create(job, shards, workers.generators(), List.of(), jobReplies()));
        return awaitJob(done -> then.apply(done.generated()));
    }

    private Behavior<Command> generateAndScore(String job, List<PromptShard> shards,
            Function<List<ScoredShard>, Behavior<Command>> then) {
        spawnJob(ShardJob.create(job, shards, workers.generators(), workers.scorers(), jobReplies()));
        return awaitJob(done -> then.apply(done.scored()));
    }

    private Behavior<Command> scoreOnly(String job, List<GeneratedShard> shards,
            Function<List<ScoredShard>, Behavior<Command>> then) {
        spawnJob(ShardJob.scoreOnly(job, shards, workers.scorers(), jobReplies()));
        return awaitJob(done -> then.apply(done.scored()));
    }

    private void spawnJob(Behavior<ShardJob.Command> job) {
        context.watch(context.spawn(job, "job-" + (++jobCounter)));
    }

    private Behavior<Command> awaitJob(Function<ShardJob.Done, Behavior<Command>> then) {
        return receive().onMessage(JobDone.class, message -> then.apply(message.done()))
                .build();
    }

    private ActorRef<ShardJob.Done> jobReplies() {
        return context.messageAdapter(ShardJob.Done.class, JobDone::new);
    }

    private ActorRef<TrainerActor.Reply> trainerReplies() {
        return context.messageAdapter(TrainerActor.Reply.class, TrainerSaid::new);
    }

    /**
     * Every state's receive: a job that stops normally is done; one that failed fails the run. A trainer may go
     * (the next ring is formed without it) unless it is running SFT or none is left.
     */
    private BehaviorBuilder<Command> receive() {
        return Behaviors.receive(Command.class).onSignal(Terminated.class, signal -> {
            if (signal instanceof ChildFailed failed) {
                throw new IllegalStateException(failed.getRef().path().name() + " failed: " + failed.getCause().getMessage(),
                        failed.getCause());
            }
            if (trainers.remove(signal.getRef())) {
                context.getLog().warn("trainer {} stopped; {} trainer(s) left", signal.getRef().path().name(), trainers.size());
                if (signal.getRef().equals(sftTrainer) || trainers.isEmpty()) {
                    throw new IllegalStateException("trainer " + signal.getRef().path().name() + " stopped"
                            + (trainers.isEmpty() ? " and no trainer is left" : " during SFT"));
                }
            }
            return Behaviors.same();
        });
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
