package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.Journal;
import dev.dice.actors.ScoringActor;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.ScoreRequest;
import dev.dice.proto.ScoredShard;
import dev.dice.proto.ShardJobEvent;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.delivery.ConsumerController;
import org.apache.pekko.actor.typed.delivery.WorkPullingProducerController;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.delivery.EventSourcedProducerQueue;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * One generate(-and-score) job of the coordinator, the producer side of Pekko reliable delivery work pulling:
 * prompt shards go into a generation work queue, each generated shard into a scoring queue, and the workers the
 * queues' controllers find through the receptionist pull them — a worker that joins mid-job starts pulling at
 * once. Both queues are durable (EventSourcedProducerQueue on the journal) and so is the job: it persists which
 * shards the queues hold and every result it accepts. A coordinator that takes over after a failover starts the
 * job again under the same persistence ids: the job recovers its results, the queues re-send what no worker
 * confirmed, and only shards never queued are offered anew.
 *
 * <p>A worker that dies loses nothing: its unconfirmed shards go to other workers. A result is accepted once —
 * a second copy (a shard re-sent after a worker or the coordinator died) is dropped and counted — and only from
 * the job's policy version: a stale result is rejected, counted and its shard queued again. A result of the job's
 * version whose weights differ from those the trainer published fails the job: corruption or a bug, not something
 * to retry.
 */
public final class ShardJob extends EventSourcedBehavior<ShardJob.Command, ShardJobEvent, ShardJob.State> {

    /** A job lives beside its coordinator: its messages are never serialized. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    /** A worker's result, routed here by the coordinator. */
    public record Deliver(Coordination.Result result) implements Command {}

    private record Demand(WorkPullingProducerController.RequestNext<?> next) implements Command {}

    private record Queued(boolean scoring, int shard) implements Command {}

    private record NotQueued(boolean scoring, int shard, Throwable cause) implements Command {}

    private enum Finish implements Command { INSTANCE }

    /**
     * What a finished job did. Prompts count once however often their shard was sent: {@code promptsCompleted} are
     * those whose every sample came back; {@code recovered} results were persisted by an earlier coordinator.
     */
    public record Facts(int promptsDispatched, int promptsCompleted, int duplicatesDropped, int staleRejected,
            int recovered) {
        static final Facts NONE = new Facts(0, 0, 0, 0, 0);
    }

    /** The job's output, shards in shard order; {@code scored} is empty when the job does not score. */
    public record Done(String job, List<GeneratedShard> generated, List<ScoredShard> scored, Facts facts)
            implements NoSerializationVerificationNeeded {}

    /** What the journal holds for the job. */
    public static final class State {
        final Set<Integer> generationQueued = new HashSet<>();
        final Set<Integer> scoringQueued = new HashSet<>();
        final Map<Integer, GeneratedShard> generated = new TreeMap<>();
        final Map<Integer, ScoredShard> scored = new TreeMap<>();
    }

    private final ActorContext<Command> context;
    private final JobSpec spec;
    private final String runId;
    private final Duration storeTimeout;
    private final ActorRef<Done> replyTo;
    private final Map<Integer, PromptShard> prompts = new LinkedHashMap<>();
    private final Map<Integer, GeneratedShard> toScore = new LinkedHashMap<>();
    private final Queue<PromptShard> generation;
    private final Queue<ScoreRequest> scoring;
    private final int total;
    private final Progress progress;
    private int duplicates;
    /** Shards finished when the job last told its metrics. */
    private int reported;
    private int stale;
    private int recovered;

    private ShardJob(ActorContext<Command> context, JobSpec spec, String runId, Duration storeTimeout,
            ActorRef<Done> replyTo) {
        super(PersistenceId.of("ShardJob", runId + "#" + key(spec)), Journal.restarts());
        this.context = context;
        this.spec = spec;
        this.runId = runId;
        this.storeTimeout = storeTimeout;
        this.replyTo = replyTo;
        // Every shard carries the job's name (results are routed by it) and the weights to fetch.
        spec.prompts().forEach(p -> {
            PromptShard.Builder b = p.toBuilder().setJob(spec.name());
            if (spec.weights() != null) {
                b.setPolicyWeights(spec.weights().toProto());
            }
            if (spec.copies().policy() != null) {
                b.setPolicyCopy(spec.copies().policy().toProto());
            }
            prompts.put(p.getShard(), b.build());
        });
        spec.toScore().forEach(s -> toScore.put(s.getShard(), s.toBuilder().setJob(spec.name()).build()));
        this.generation = prompts.isEmpty() ? null : new Queue<>(false, PromptShard.class, GenerationActor.KEY,
                this::nextPrompts, (shard, state) -> prompts.get(shard));
        this.scoring = spec.scoring() == null ? null : new Queue<>(true, ScoreRequest.class, ScoringActor.KEY,
                this::nextToScore, this::scoreRequest);
        this.total = scoring != null ? (generation != null ? prompts.size() : toScore.size()) : prompts.size();
        this.progress = new Progress(spec.name(), scoring == null ? "shards generated" : "shards scored", total);
    }

    /** The job's identity in the journal: its name and, when known, the stamp of its models. */
    private static String key(JobSpec spec) {
        return spec.models().isEmpty() ? spec.name() : spec.name() + "@" + spec.models();
    }

    /** {@code storeTimeout}: how long the durable queue may take to store a shard before the job fails. */
    public static Behavior<Command> create(JobSpec spec, String runId, Duration storeTimeout, ActorRef<Done> replyTo) {
        return Behaviors.setup(context -> new ShardJob(context, spec, runId, storeTimeout, replyTo));
    }

    @Override
    public State emptyState() {
        return new State();
    }

    // ---- recovery: start the queues, or answer at once when the journal holds every result ----------------------

    @Override
    public SignalHandler<State> signalHandler() {
        return newSignalHandlerBuilder().onSignal(RecoveryCompleted.instance(), state -> {
            recovered = state.generated.size() + state.scored.size();
            JobMetrics.recovered(spec.name(), recovered, context.getLog());
            if (done(state)) {
                context.getSelf().tell(Finish.INSTANCE);
                return;
            }
            if (generation != null) {
                generation.start();
            }
            if (scoring != null) {
                scoring.start();
            }
        }).build();
    }

    @Override
    public CommandHandler<Command, ShardJobEvent, State> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(Demand.class, this::onDemand)
                .onCommand(Queued.class, this::onQueued)
                .onCommand(NotQueued.class, (state, failed) -> {
                    throw new IllegalStateException(spec.name() + ": the " + kind(failed.scoring()) + " queue did not store shard "
                            + failed.shard() + ": " + failed.cause().getMessage(), failed.cause());
                })
                .onCommand(Deliver.class, this::onResult)
                .onCommand(Finish.class, (state, finish) -> {
                    replyTo.tell(new Done(spec.name(), List.copyOf(state.generated.values()),
                            List.copyOf(state.scored.values()), facts(state)));
                    return Effect().stop();
                })
                .build();
    }

    @Override
    public EventHandler<State, ShardJobEvent> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onEvent(ShardJobEvent.class, (state, event) -> {
            switch (event.getEventCase()) {
                case GENERATION_QUEUED -> state.generationQueued.add(event.getGenerationQueued());
                case SCORING_QUEUED -> state.scoringQueued.add(event.getScoringQueued());
                case GENERATION_REQUEUED -> state.generationQueued.remove(event.getGenerationRequeued());
                case SCORING_REQUEUED -> state.scoringQueued.remove(event.getScoringRequeued());
                case GENERATED -> state.generated.put(event.getGenerated().getShard(), event.getGenerated());
                case SCORED -> state.scored.put(event.getScored().getShard(), event.getScored());
                case EVENT_NOT_SET -> throw new IllegalStateException(spec.name() + ": an empty job event in the journal");
            }
            return state;
        }).build();
    }

    // ---- feeding the work queues -----------------------------------------------------------------------------

    private Effect<ShardJobEvent, State> onDemand(State state, Demand demand) {
        Queue<?> queue = generation != null && generation.isController(demand.next()) ? generation : scoring;
        queue.demand(demand.next(), state);
        return Effect().none();
    }

    private Effect<ShardJobEvent, State> onQueued(State state, Queued queued) {
        ShardJobEvent event = queued.scoring() ? ShardJobEvent.newBuilder().setScoringQueued(queued.shard()).build()
                : ShardJobEvent.newBuilder().setGenerationQueued(queued.shard()).build();
        return Effect().persist(event).thenRun(s -> {
            Queue<?> queue = queued.scoring() ? scoring : generation;
            queue.stored();
            if (!queued.scoring()) {
                JobMetrics.shardDispatched(spec.name(), prompts.get(queued.shard()));
            }
            queue.offer(s);
        });
    }

    /** The next prompt shard neither queued nor generated. */
    private Integer nextPrompts(State state) {
        return prompts.keySet().stream().filter(i -> !state.generationQueued.contains(i) && !state.generated.containsKey(i))
                .findFirst().orElse(null);
    }

    /** The next shard to score: generated (or given) and neither queued for scoring nor scored. */
    private Integer nextToScore(State state) {
        Set<Integer> ready = generation != null ? state.generated.keySet() : toScore.keySet();
        return ready.stream().filter(i -> !state.scoringQueued.contains(i) && !state.scored.containsKey(i)).findFirst()
                .orElse(null);
    }

    private ScoreRequest scoreRequest(int shard, State state) {
        GeneratedShard generated = generation != null ? state.generated.get(shard) : toScore.get(shard);
        JobSpec.ScoringModels models = spec.scoring();
        ScoreRequest.Builder b = ScoreRequest.newBuilder().setShard(generated).setPolicyDir(models.policyDir().toString())
                .setReferenceVersion(models.referenceVersion()).setReferenceDir(models.referenceDir().toString());
        if (spec.weights() != null) {
            b.setPolicyWeights(spec.weights().toProto());
        }
        if (spec.copies().policy() != null) {
            b.setPolicyCopy(spec.copies().policy().toProto());
        }
        if (spec.copies().reference() != null) {
            b.setReferenceCopy(spec.copies().reference().toProto());
        }
        return b.build();
    }

    // ---- results ---------------------------------------------------------------------------------------------

    private Effect<ShardJobEvent, State> onResult(State state, Deliver deliver) {
        Coordination.Result result = deliver.result();
        int shard = result.shardIndex();
        boolean isScored = result.scoring();
        Map<Integer, ?> held = isScored ? state.scored : state.generated;
        boolean known = isScored ? (generation != null ? prompts.containsKey(shard) : toScore.containsKey(shard))
                : prompts.containsKey(shard);
        if (held.containsKey(shard)) {
            duplicates++;
            context.getLog().info("{}: dropped a second {} result of shard {} from {}", spec.name(), kind(isScored), shard,
                    result.worker());
            return answer(result, Coordination.Outcome.DUPLICATE);
        }
        if (known && result.policyVersion() == spec.version() && spec.weights() != null
                && !spec.weights().sha256().equals(result.weightsSha256())) {
            // The version the trainer published, yet other weights: corrupted or a bug, not something to retry.
            throw new IllegalStateException(spec.name() + ": " + result.worker() + " computed shard " + shard + " with v"
                    + result.policyVersion() + " weights of sha256 " + result.weightsSha256() + ", but the trainer"
                    + " published v" + spec.version() + " as sha256 " + spec.weights().sha256());
        }
        if (!known || result.policyVersion() != spec.version()) {
            stale++;
            context.getLog().warn("{}: rejected a stale {} result of shard {} from {}: policy v{}, the job runs v{}",
                    spec.name(), kind(isScored), shard, result.worker(), result.policyVersion(), spec.version());
            if (!known) {
                return answer(result, Coordination.Outcome.STALE);
            }
            // The worker confirms the shard: it leaves the durable queue, so the job queues it again.
            ShardJobEvent requeue = isScored ? ShardJobEvent.newBuilder().setScoringRequeued(shard).build()
                    : ShardJobEvent.newBuilder().setGenerationRequeued(shard).build();
            return Effect().persist(requeue).thenRun(s -> {
                result.replyTo().tell(ack(result, Coordination.Outcome.STALE));
                (isScored ? scoring : generation).offer(s);
            });
        }
        ShardJobEvent event = result instanceof Coordination.Scored s ? ShardJobEvent.newBuilder().setScored(s.scored()).build()
                : ShardJobEvent.newBuilder().setGenerated(((Coordination.Generated) result).generated()).build();
        return Effect().persist(event).thenRun(s -> {
            result.replyTo().tell(ack(result, Coordination.Outcome.STORED));
            context.getLog().info("{}: {} shard {} stored (from {})", spec.name(), isScored ? "scored" : "generated", shard,
                    result.worker());
            if (result instanceof Coordination.Scored scored) {
                JobMetrics.shardScored(spec.name(), scored.scored());
                progress.advance(s.scored.size());
            } else {
                JobMetrics.shardGenerated(spec.name(), ((Coordination.Generated) result).generated());
                if (scoring != null) {
                    scoring.offer(s); // scoring of a shard starts as soon as it is generated
                } else {
                    progress.advance(s.generated.size());
                }
            }
            int finished = finished(s);
            JobMetrics.progress(spec.name(), finished - reported, finished, total);
            reported = finished;
            if (done(s)) {
                context.getSelf().tell(Finish.INSTANCE);
            }
        });
    }

    private Effect<ShardJobEvent, State> answer(Coordination.Result result, Coordination.Outcome outcome) {
        result.replyTo().tell(ack(result, outcome));
        return Effect().none();
    }

    private static Coordination.Ack ack(Coordination.Result result, Coordination.Outcome outcome) {
        return new Coordination.Ack(result.job(), result.scoring(), result.shardIndex(), outcome);
    }

    private int finished(State state) {
        return scoring != null ? state.scored.size() : state.generated.size();
    }

    private boolean done(State state) {
        return finished(state) == total;
    }

    private Facts facts(State state) {
        Set<String> dispatched = new HashSet<>();
        prompts.values().forEach(p -> p.getPromptsList().forEach(prompt -> dispatched.add(prompt.getId())));
        Map<String, Set<Integer>> samples = new HashMap<>();
        Map<String, Integer> wanted = new HashMap<>();
        for (GeneratedShard shard : state.generated.values()) {
            for (Response r : shard.getResponsesList()) {
                samples.computeIfAbsent(r.getPromptId(), k -> new HashSet<>()).add(r.getSample());
            }
        }
        prompts.values().forEach(p -> p.getPromptsList().forEach(prompt -> wanted.put(prompt.getId(),
                Math.max(1, p.getSamplesPerPrompt()))));
        int completed = (int) dispatched.stream()
                .filter(id -> samples.getOrDefault(id, Set.of()).size() == wanted.get(id)).count();
        return new Facts(dispatched.size(), completed, duplicates, stale, recovered);
    }

    private static String kind(boolean scoring) {
        return scoring ? "scoring" : "generation";
    }

    /**
     * One of the job's work queues: a WorkPullingProducerController with a durable queue, and the demand it has
     * signalled. A shard counts as queued once the durable queue has stored it (the controller's confirmation).
     */
    private final class Queue<W> {
        private final boolean scoring;
        private final Class<W> type;
        private final ServiceKey<ConsumerController.Command<W>> workers;
        private final Function<State, Integer> next;
        private final BiFunction<Integer, State, W> work;
        private ActorRef<WorkPullingProducerController.Command<W>> controller;
        private WorkPullingProducerController.RequestNext<W> demand;
        private boolean storing;

        Queue(boolean scoring, Class<W> type, ServiceKey<ConsumerController.Command<W>> workers,
                Function<State, Integer> next, BiFunction<Integer, State, W> work) {
            this.scoring = scoring;
            this.type = type;
            this.workers = workers;
            this.next = next;
            this.work = work;
        }

        void start() {
            String id = key(spec) + "-" + kind(scoring);
            controller = context.spawn(WorkPullingProducerController.create(type, id, workers,
                    Optional.of(EventSourcedProducerQueue.create(PersistenceId.of("WorkQueue", runId + "#" + id)))),
                    kind(scoring) + "-queue");
            // One adapter serves both queues (an adapter is per message class); Demand tells them apart by sender.
            controller.tell(new WorkPullingProducerController.Start<>(context.messageAdapter(
                    WorkPullingProducerController.requestNextClass(), Demand::new)));
        }

        boolean isController(WorkPullingProducerController.RequestNext<?> request) {
            return controller != null && request.askNextTo().path().equals(controller.path());
        }

        @SuppressWarnings("unchecked")
        void demand(WorkPullingProducerController.RequestNext<?> request, State state) {
            demand = (WorkPullingProducerController.RequestNext<W>) request;
            offer(state);
        }

        void stored() {
            storing = false;
        }

        /** Hands the next shard to the controller when it has asked for one and none is being stored. */
        void offer(State state) {
            if (demand == null || storing) {
                return;
            }
            Integer shard = next.apply(state);
            if (shard == null) {
                return;
            }
            W message = work.apply(shard, state);
            ActorRef<WorkPullingProducerController.MessageWithConfirmation<W>> to = demand.askNextTo();
            demand = null;
            storing = true;
            context.ask(org.apache.pekko.Done.class, to, storeTimeout,
                    replyTo -> new WorkPullingProducerController.MessageWithConfirmation<>(message, replyTo),
                    (ok, failure) -> failure == null ? new Queued(scoring, shard) : new NotQueued(scoring, shard, failure));
        }
    }
}
