package dev.dice.actors;

import dev.dice.gpu.collective.CollectiveException;
import java.time.Duration;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.delivery.ConsumerController;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * A worker that pulls shards of one kind from the coordinator's work queue — Pekko reliable delivery, work
 * pulling: its ConsumerController registers under the kind's service key, and the coordinator's
 * WorkPullingProducerController hands the next shard to a worker with demand — and does them one at a time.
 *
 * <p>Each result goes to the coordinator the receptionist lists. The shard is confirmed to its queue only when the
 * coordinator has answered (stored, duplicate, stale), so nothing is lost between the two: until then the shard
 * stays unconfirmed, and when this node dies the queue hands it to another worker. Without an answer (the
 * coordinator is moving to another node) the result is sent again.
 *
 * <p>Before it takes work a worker loads the run's current model version: the one it was given ({@link #preload()}),
 * or the ones the coordinator names when asked ({@link #preload(Coordination.CurrentModels)}), fetched over the
 * cluster when this node does not share the run directory. A shard of another version makes it load that one first.
 * A shard a coordinator queued before it moved names the copies its node served: when such a model cannot be
 * fetched, the worker asks the coordinator where the version is served now and does the shard with that copy.
 * Subclasses are the model side; spawn them on the model dispatcher.
 */
public abstract class ShardWorker<W> extends AbstractBehavior<ShardWorker.Command> {

    /** A worker's messages stay on its node. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Delivered<W>(ConsumerController.Delivery<W> delivery) implements Command {}

    private record Answered(Coordination.Ack ack) implements Command {}

    private record Coordinators(Receptionist.Listing listing) implements Command {}

    private enum Resend implements Command { INSTANCE }

    private record Current(Coordination.CurrentModels models) implements Command {}

    private final TimerScheduler<Command> timers;
    private final String name;
    /** How long a result waits for the coordinator's answer before it is sent again. */
    private final Duration resendAfter;
    private final ActorRef<Coordination.Ack> answers;
    private Set<ActorRef<Coordination.Command>> coordinators = Set.of();
    /** The result waiting for the coordinator's answer, and where to confirm its shard once answered. */
    private Coordination.Result pending;
    private ActorRef<ConsumerController.Confirmed> confirmTo;
    /** Whether the coordinator was asked for the current models, and whether a shard came first. */
    private boolean asked;
    private boolean worked;
    /** The models the coordinator named last: where each version is served now. */
    private Coordination.CurrentModels latest = Coordination.CurrentModels.NONE;
    /** A shard whose model could not be fetched where it said, until the coordinator says where it is served now. */
    private Delivered<W> refetch;
    /** The shard is done again, with the copies the coordinator named last ({@link #copy}). */
    private boolean refreshed;

    protected ShardWorker(ActorContext<Command> context, TimerScheduler<Command> timers, Duration resendAfter) {
        super(context);
        this.resendAfter = resendAfter;
        context.setLoggerName(getClass()); // GenerationActor, ScoringActor
        this.timers = timers;
        this.name = Cluster.get(context.getSystem()).selfMember().address().hostPort() + "/" + context.getSelf().path().name();
        this.answers = context.messageAdapter(Coordination.Ack.class, Answered::new);
    }

    /** The model side: describe a shard for the log, do it, free the device memory held. */
    protected abstract String describe(W shard);

    protected abstract Coordination.Result perform(W shard, String worker, ActorRef<Coordination.Ack> replyTo);

    /** Loads the run's current version, when one is known, before any work is taken. */
    protected abstract void preload();

    /** Loads the models the coordinator's jobs use now, as it answered (before the first shard, when it answers first). */
    protected abstract void preload(Coordination.CurrentModels models);

    protected abstract void release();

    /**
     * The copy of {@code version} to fetch: the one the shard names ({@code named}), or, when the shard is done again
     * because that could not be fetched, the one the coordinator named last.
     */
    protected final PublishedWeights copy(long version, PublishedWeights named) {
        if (!refreshed) {
            return named;
        }
        return Stream.of(latest.generation(), latest.scoringPolicy(), latest.scoringReference())
                .filter(m -> m != null && m.version() == version && m.copy() != null).map(ModelSource::copy)
                .findFirst().orElse(named);
    }

    /** Frees what the worker holds besides its models (called once, when it stops). */
    protected void stopped() {}

    /** Loads the current version, then starts pulling: registers this worker's ConsumerController under {@code key}. */
    protected final Behavior<Command> start(ServiceKey<ConsumerController.Command<W>> key) {
        ActorContext<Command> context = getContext();
        try {
            preload();
        } catch (RuntimeException e) {
            // Gone or unreadable (a stage being trained again): the shards name what to load.
            release();
            context.getLog().warn("{} could not load the run's current model ({}); it loads what its first shard names",
                    name, e.getMessage());
        }
        ActorRef<ConsumerController.Delivery<W>> deliveries = context.messageAdapter(ConsumerController.deliveryClass(),
                Delivered::new);
        context.spawn(ConsumerController.create(key), "work-queue").tell(new ConsumerController.Start<>(deliveries));
        context.getSystem().receptionist().tell(Receptionist.subscribe(Coordination.COORDINATOR,
                context.messageAdapter(Receptionist.Listing.class, Coordinators::new)));
        context.getLog().info("{} pulls work ({})", name, key.id());
        return this;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Delivered.class, this::onDelivered)
                .onMessage(Answered.class, this::onAnswered)
                .onMessage(Coordinators.class, this::onCoordinators)
                .onMessage(Current.class, this::onCurrent)
                .onMessageEquals(Resend.INSTANCE, this::report)
                .onSignal(PostStop.class, signal -> {
                    release();
                    stopped();
                    return this;
                })
                .build();
    }

    @SuppressWarnings("unchecked")
    private Behavior<Command> onDelivered(Delivered<?> message) {
        W shard = ((Delivered<W>) message).delivery().message();
        worked = true;
        getContext().getLog().info("{} works on {}", name, describe(shard));
        try {
            pending = perform(shard, name, answers);
        } catch (CollectiveException e) {
            if (refreshed) {
                throw e;
            }
            getContext().getLog().warn("{}: {}; asking the coordinator where it is served now", name, e.getMessage());
            refetch = (Delivered<W>) message;
            askCurrentModels();
            return this;
        }
        confirmTo = message.delivery().confirmTo();
        return report();
    }

    private void askCurrentModels() {
        ActorRef<Coordination.CurrentModels> replies = getContext().messageAdapter(Coordination.CurrentModels.class,
                Current::new);
        coordinators.forEach(c -> c.tell(new Coordination.AskCurrentModels(replies)));
    }

    /** Sends the pending result to every coordinator listed (there is one; two only while one is moving). */
    private Behavior<Command> report() {
        if (pending != null) {
            coordinators.forEach(c -> c.tell(pending));
            timers.startSingleTimer(Resend.INSTANCE, resendAfter);
        }
        return this;
    }

    private Behavior<Command> onAnswered(Answered message) {
        Coordination.Ack ack = message.ack();
        if (pending == null || !ack.answers(pending) || !ack.outcome().settled()) {
            return this; // an answer to an earlier copy, or LATER: the timer sends the result again
        }
        if (ack.outcome() != Coordination.Outcome.STORED) {
            getContext().getLog().info("{}: {} {} shard {} was {}", name, ack.job(), ack.scoring() ? "scored" : "generated",
                    ack.shard(), ack.outcome().name().toLowerCase(java.util.Locale.ROOT));
        }
        timers.cancel(Resend.INSTANCE);
        confirmTo.tell(ConsumerController.confirmed());
        pending = null;
        confirmTo = null;
        return this;
    }

    private Behavior<Command> onCoordinators(Coordinators message) {
        coordinators = message.listing().getServiceInstances(Coordination.COORDINATOR);
        if ((!asked && !worked || refetch != null) && !coordinators.isEmpty()) {
            asked = true;
            askCurrentModels();
        }
        return report(); // a coordinator that takes over gets the pending result at once
    }

    /** The run's current models, as the coordinator named them; a shard already taken named its own. */
    private Behavior<Command> onCurrent(Current message) {
        latest = message.models();
        if (refetch != null) {
            Delivered<W> again = refetch;
            refetch = null;
            refreshed = true;
            try {
                return onDelivered(again);
            } finally {
                refreshed = false;
            }
        }
        if (worked) {
            return this;
        }
        try {
            preload(message.models());
        } catch (RuntimeException e) {
            release();
            getContext().getLog().warn("{} could not load the run's current model ({}); it loads what its first shard"
                    + " names", name, e.getMessage());
        }
        return this;
    }
}
