package dev.dice.coordinator;

import dev.dice.actors.ModelSource;
import dev.dice.actors.TrainerActor;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.PreferencePair;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.BehaviorBuilder;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One training stage (SFT or DPO) trained by a ring of trainers: assigns the ranks (in the order the trainers are
 * given), starts every rank, forwards rank 0's progress, and once every rank has finished has rank 0 write the
 * checkpoint and publish the weights.
 *
 * <p>A trainer that dies, or whose ring breaks, does not fail the stage. Once every member of the ring has reported
 * or is gone (a member that does neither within twice the ring timeout after the first failure counts as gone), the
 * job re-forms the ring from the survivors and resumes them from the latest sync point they all hold: the step
 * index, which fixes the data position, and the weights and optimizer state the ring last verified identical. The
 * stage then finishes with fewer ranks. It fails only when no trainer is left or a rank reports a fatal failure
 * (diverged replicas, a checkpoint it cannot read).
 */
public final class TrainingJob {

    /** A job lives beside its coordinator: its messages are never serialized. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    private record FromTrainer(TrainerActor.Reply reply) implements Command {}

    private record GiveUp(String ringId) implements Command {}

    /**
     * What to train ({@link Sft} or {@link Dpo}); the result goes to {@code outDir} (relative to the run directory, which
     * rank 0 writes it into on its own node) as {@code version}, {@code float32Weights}: written as float32, not in the
     * release's dtype.
     */
    public record Task(String stage, Start start, Training.Settings settings, long version, Path outDir,
            boolean float32Weights) {
        /** DPO from {@code init} on {@code data}. */
        public Task(String stage, ModelSource init, List<PreferencePair> data, Training.Settings settings, long version,
                Path outDir, boolean float32Weights) {
            this(stage, new Dpo(init, data), settings, version, outDir, float32Weights);
        }
    }

    /** The stage's model and data, as every rank starts it. */
    public sealed interface Start {}

    /** SFT from {@code initDir}, or (null) from a fresh model of {@code config} initialised with the stage's seed. */
    public record Sft(Path initDir, LlamaConfig config, List<Training.Example> data) implements Start {}

    /**
     * DPO from {@code init} (read, or fetched by a trainer without its checkpoint) on pairs that carry their reference
     * log-probs.
     */
    public record Dpo(ModelSource init, List<PreferencePair> data) implements Start {}

    /**
     * The ring's settings: longest wait for a peer, steps between weight checks, gradients as fp16, gradients
     * all-reduced while backward runs.
     */
    public record RingSettings(Duration timeout, int checkEvery, boolean fp16Gradients, boolean overlapGradients) {}

    /**
     * The stage is trained: where and as what its model is served, the trainers still alive, how many rings it took
     * (1 when nothing failed), the nodes whose trainers were ranks of a ring ({@code host:port}), and the steps trained
     * twice because a re-formed ring went back to a sync point before them.
     */
    public record Done(String stage, TrainerActor.Trained trained, List<ActorRef<TrainerActor.Command>> trainers,
            int rings, Set<String> trainerNodes, int stepsReplayed) implements NoSerializationVerificationNeeded {}

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final Task task;
    private final RingSettings settings;
    private final ActorRef<TrainerActor.Reply> progress;
    private final ActorRef<Done> replyTo;
    private final ActorRef<TrainerActor.Reply> replies;
    private int rings;
    private final Set<String> trainerNodes = new TreeSet<>();
    private int stepsReplayed;
    /** The last step forwarded: a re-formed ring replays the steps after its sync point, and those are not news. */
    private int stepsForwarded;

    private TrainingJob(ActorContext<Command> context, TimerScheduler<Command> timers, Task task, RingSettings settings,
            ActorRef<TrainerActor.Reply> progress, ActorRef<Done> replyTo) {
        this.context = context;
        this.timers = timers;
        this.task = task;
        this.settings = settings;
        this.progress = progress;
        this.replyTo = replyTo;
        this.replies = context.messageAdapter(TrainerActor.Reply.class, FromTrainer::new);
    }

    /**
     * @param progress receives rank 0's {@link TrainerActor.Progress} once for every step (not again for the steps a
     *     re-formed ring replays)
     */
    public static Behavior<Command> create(Task task, List<ActorRef<TrainerActor.Command>> trainers, RingSettings settings,
            ActorRef<TrainerActor.Reply> progress, ActorRef<Done> replyTo) {
        return Behaviors.setup(context -> Behaviors.withTimers(timers -> {
            trainers.forEach(context::watch);
            return new TrainingJob(context, timers, task, settings, progress, replyTo).forming(trainers, -1);
        }));
    }

    // ---- forming a ring ---------------------------------------------------------------------------------------

    /** Asks every member for its ring address; {@code fromStep} −1: a fresh start, else resume from that sync step. */
    private Behavior<Command> forming(List<ActorRef<TrainerActor.Command>> candidates, int fromStep) {
        String ringId = task.stage() + "-ring" + (++rings);
        List<ActorRef<TrainerActor.Command>> members = new ArrayList<>(candidates);
        Map<ActorRef<TrainerActor.Command>, String> addresses = new HashMap<>();
        members.forEach(t -> t.tell(new TrainerActor.OpenRing(ringId, replies)));
        return receive()
                .onMessage(FromTrainer.class, m -> m.reply() instanceof TrainerActor.RingAddress a && a.ringId().equals(ringId),
                        m -> {
                            TrainerActor.RingAddress a = (TrainerActor.RingAddress) m.reply();
                            addresses.put(a.from(), a.address());
                            return addresses.size() < members.size() ? Behaviors.same()
                                    : start(ringId, members, addresses, fromStep);
                        })
                .onMessage(FromTrainer.class, m -> Behaviors.same()) // a late reply from an earlier ring
                .onSignal(Terminated.class, signal -> {
                    if (!members.remove(signal.getRef())) {
                        return Behaviors.same();
                    }
                    context.getLog().warn("{}: trainer {} is gone while forming ring {}", task.stage(),
                            signal.getRef().path().name(), ringId);
                    requireSurvivors(members);
                    addresses.remove(signal.getRef());
                    return addresses.size() < members.size() ? Behaviors.same()
                            : start(ringId, members, addresses, fromStep);
                })
                .build();
    }

    private Behavior<Command> start(String ringId, List<ActorRef<TrainerActor.Command>> members,
            Map<ActorRef<TrainerActor.Command>, String> addresses, int fromStep) {
        List<String> ring = members.stream().map(addresses::get).toList();
        members.forEach(t -> trainerNodes.add(nodeOf(t)));
        for (int rank = 0; rank < members.size(); rank++) {
            TrainerActor.Ring place = new TrainerActor.Ring(ringId, ring, rank, settings.timeout(), settings.checkEvery(),
                    settings.fp16Gradients(), settings.overlapGradients());
            members.get(rank).tell(fromStep >= 0 ? new TrainerActor.Resume(fromStep, place, replies) : begin(place));
        }
        context.getLog().info("{}: ring {} of {} trainer(s) {} {}", task.stage(), ringId, members.size(),
                members.stream().map(t -> t.path().name()).toList(),
                fromStep < 0 ? "starts" : "resumes from step " + fromStep + " of " + task.settings().steps());
        return running(ringId, members);
    }

    private TrainerActor.Command begin(TrainerActor.Ring place) {
        if (task.start() instanceof Sft sft) {
            return new TrainerActor.TrainSft(sft.initDir(), sft.config(), sft.data(), task.settings(), task.version(),
                    place, replies);
        }
        Dpo dpo = (Dpo) task.start();
        return new TrainerActor.TrainDpo(dpo.init(), dpo.data(), task.settings(), task.version(), place, replies);
    }

    // ---- training ---------------------------------------------------------------------------------------------

    private Behavior<Command> running(String ringId, List<ActorRef<TrainerActor.Command>> members) {
        Map<ActorRef<TrainerActor.Command>, TrainerActor.Reply> reports = new LinkedHashMap<>();
        Set<ActorRef<TrainerActor.Command>> gone = new HashSet<>();
        return receive()
                .onMessage(FromTrainer.class, m -> m.reply() instanceof TrainerActor.Progress, m -> {
                    TrainerActor.Progress p = (TrainerActor.Progress) m.reply();
                    if (p.step().step() > stepsForwarded) {
                        stepsForwarded = p.step().step();
                        progress.tell(p);
                    }
                    return Behaviors.same();
                })
                .onMessage(FromTrainer.class, m -> m.reply() instanceof TrainerActor.RankFinished f && f.ringId().equals(ringId),
                        m -> {
                            TrainerActor.RankFinished f = (TrainerActor.RankFinished) m.reply();
                            reports.put(f.from(), f);
                            return settle(ringId, members, reports, gone);
                        })
                .onMessage(FromTrainer.class, m -> m.reply() instanceof TrainerActor.RankFailed f && f.ringId().equals(ringId),
                        m -> {
                            TrainerActor.RankFailed f = (TrainerActor.RankFailed) m.reply();
                            if (f.fatal()) {
                                return fail(members, task.stage() + ": trainer " + f.from().path().name() + " (rank "
                                        + f.rank() + "): " + f.reason());
                            }
                            reports.put(f.from(), f);
                            startGiveUpTimer(ringId);
                            return settle(ringId, members, reports, gone);
                        })
                .onMessage(FromTrainer.class, m -> Behaviors.same())
                .onMessage(GiveUp.class, g -> g.ringId().equals(ringId), g -> {
                    for (ActorRef<TrainerActor.Command> t : members) {
                        if (!reports.containsKey(t) && gone.add(t)) {
                            context.getLog().warn("{}: trainer {} neither reported nor stopped within {} of the ring's "
                                    + "failure; left out", task.stage(), t.path().name(), giveUpAfter());
                        }
                    }
                    return settle(ringId, members, reports, gone);
                })
                .onMessage(GiveUp.class, g -> Behaviors.same())
                .onSignal(Terminated.class, signal -> {
                    ActorRef<TrainerActor.Command> t = members.stream().filter(signal.getRef()::equals).findFirst().orElse(null);
                    if (t == null) {
                        return Behaviors.same();
                    }
                    reports.remove(t);
                    gone.add(t);
                    context.getLog().warn("{}: trainer {} is gone (ring {})", task.stage(), t.path().name(), ringId);
                    startGiveUpTimer(ringId);
                    return settle(ringId, members, reports, gone);
                })
                .build();
    }

    private static int rankIn(TrainerActor.Reply report) {
        return report instanceof TrainerActor.RankFailed f ? f.rank() : ((TrainerActor.RankFinished) report).rank();
    }

    private Duration giveUpAfter() {
        return settings.timeout().multipliedBy(2);
    }

    private void startGiveUpTimer(String ringId) {
        if (!timers.isTimerActive(ringId)) {
            timers.startSingleTimer(ringId, new GiveUp(ringId), giveUpAfter());
        }
    }

    /** Once every member has reported or is gone: publish when all finished, else re-form from the survivors. */
    private Behavior<Command> settle(String ringId, List<ActorRef<TrainerActor.Command>> members,
            Map<ActorRef<TrainerActor.Command>, TrainerActor.Reply> reports, Set<ActorRef<TrainerActor.Command>> gone) {
        if (reports.size() + gone.size() < members.size()) {
            return Behaviors.same();
        }
        timers.cancel(ringId);
        boolean allFinished = gone.isEmpty()
                && reports.values().stream().allMatch(r -> r instanceof TrainerActor.RankFinished);
        if (allFinished) {
            Set<String> weights = new HashSet<>();
            reports.values().forEach(r -> weights.add(((TrainerActor.RankFinished) r).weightsSha256()));
            if (weights.size() != 1) {
                return fail(members, task.stage() + ": the replicas finished with different weights (sha256 " + weights + ")");
            }
            context.getLog().info("{}: {} replica(s) finished {} steps with identical weights (sha256 {})", task.stage(),
                    members.size(), task.settings().steps(), weights.iterator().next().substring(0, 12));
            return publishing(members);
        }
        // In their ranks' order: a ring re-formed with every member gives each its old rank, which is what lets ZeRO
        // ranks (each holding its part of the optimizer state) go on.
        List<ActorRef<TrainerActor.Command>> survivors = new ArrayList<>(reports.keySet());
        survivors.sort(java.util.Comparator.comparingInt(t -> rankIn(reports.get(t))));
        requireSurvivors(survivors);
        int from = Integer.MAX_VALUE;
        List<String> why = new ArrayList<>();
        for (TrainerActor.Reply r : reports.values()) {
            if (r instanceof TrainerActor.RankFailed f) {
                from = Math.min(from, f.syncStep());
                why.add(f.reason());
            } else {
                from = Math.min(from, task.settings().steps());
            }
        }
        gone.forEach(t -> why.add(t.path().name() + " on " + nodeOf(t) + " is gone"));
        stepsReplayed += Math.max(0, stepsForwarded - from);
        context.getLog().warn("{}: ring {} failed ({}); re-forming it with {} trainer(s), resuming from sync step {}",
                task.stage(), ringId, String.join("; ", why), survivors.size(), from);
        return forming(survivors, from);
    }

    // ---- publishing ---------------------------------------------------------------------------------------------

    private Behavior<Command> publishing(List<ActorRef<TrainerActor.Command>> members) {
        ActorRef<TrainerActor.Command> rank0 = members.get(0);
        rank0.tell(new TrainerActor.Publish(task.outDir(), task.float32Weights(), replies));
        List<ActorRef<TrainerActor.Command>> alive = new ArrayList<>(members);
        return receive()
                .onMessage(FromTrainer.class, m -> m.reply() instanceof TrainerActor.Trained, m -> {
                    alive.forEach(t -> t.tell(new TrainerActor.Release()));
                    replyTo.tell(new Done(task.stage(), (TrainerActor.Trained) m.reply(), List.copyOf(alive), rings,
                            Set.copyOf(trainerNodes), stepsReplayed));
                    return Behaviors.stopped();
                })
                .onMessage(FromTrainer.class, m -> Behaviors.same())
                .onSignal(Terminated.class, signal -> {
                    alive.remove(signal.getRef());
                    if (!signal.getRef().equals(rank0)) {
                        return Behaviors.same();
                    }
                    context.getLog().warn("{}: trainer {} is gone before publishing; the others hold the final weights",
                            task.stage(), rank0.path().name());
                    requireSurvivors(alive);
                    return forming(alive, task.settings().steps());
                })
                .build();
    }

    /** The node a trainer runs on, as {@code host:port} (this node's address for a local trainer). */
    private String nodeOf(ActorRef<TrainerActor.Command> trainer) {
        Address address = trainer.path().address();
        Address node = address.hasGlobalScope() ? address : context.getSystem().address();
        return node.getHost().isPresent() ? node.getHost().get() + ":" + node.getPort().orElse(0) : node.toString();
    }

    // ---- failing ------------------------------------------------------------------------------------------------

    private void requireSurvivors(List<ActorRef<TrainerActor.Command>> survivors) {
        if (survivors.isEmpty()) {
            throw new IllegalStateException(task.stage() + ": every trainer is gone; the stage cannot finish");
        }
    }

    private Behavior<Command> fail(List<ActorRef<TrainerActor.Command>> members, String why) {
        members.forEach(t -> t.tell(new TrainerActor.Release()));
        throw new IllegalStateException(why);
    }

    private BehaviorBuilder<Command> receive() {
        return Behaviors.receive(Command.class);
    }
}
