package dev.dice.coordinator;

import dev.dice.actors.GenerationActor;
import dev.dice.actors.ScoringActor;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.proto.ScoredShard;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One generate(-and-score) job: hands prompt shards to generators one at a time (a free generator pulls
 * the next shard), passes each generated shard straight on to a scorer — scoring of a shard starts as soon
 * as it is generated, while generators continue — and answers with every shard once all are done.
 *
 * <p>A worker that dies loses nothing: its shards in flight go back to the queue (generation) or to
 * another scorer, and a shard answered twice (by a worker presumed dead) is counted once. Only when no
 * worker of a kind is left does the job fail.
 */
public final class ShardJob extends AbstractBehavior<ShardJob.Command> {

    /** A job lives beside its coordinator: its messages are never serialized. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    private record FromGenerator(GenerationActor.Reply reply) implements Command {}

    private record FromScorer(ScoringActor.Scored scored) implements Command {}

    /** The job's output, shards in shard order; {@code scored} is empty when no scorer was given. */
    public record Done(String job, List<GeneratedShard> generated, List<ScoredShard> scored, int duplicatesDropped,
            int reassigned) implements NoSerializationVerificationNeeded {}

    private final String job;
    private final Deque<PromptShard> pending;
    private final int total;
    private final boolean generating;
    private final boolean scoring;
    private final ActorRef<Done> replyTo;
    private final ActorRef<GenerationActor.Reply> generatorReplies;
    private final ActorRef<ScoringActor.Scored> scorerReplies;
    /** Live generators and the shard each is working on (null when idle). */
    private final Map<ActorRef<GenerationActor.Command>, PromptShard> generators = new HashMap<>();
    /** Live scorers and the shards sent to each, not yet answered. */
    private final Map<ActorRef<ScoringActor.Command>, Map<Integer, GeneratedShard>> scorers = new HashMap<>();
    private final List<ActorRef<ScoringActor.Command>> scorerOrder = new ArrayList<>();
    private final Map<Integer, GeneratedShard> generated = new TreeMap<>();
    private final Map<Integer, ScoredShard> scored = new TreeMap<>();
    private final Progress progress;
    private int nextScorer;
    private int duplicates;
    private int reassigned;

    private ShardJob(ActorContext<Command> context, String job, List<PromptShard> shards,
            List<ActorRef<GenerationActor.Command>> generators, List<ActorRef<ScoringActor.Command>> scorers,
            List<GeneratedShard> toScore, ActorRef<Done> replyTo) {
        super(context);
        this.job = job;
        this.pending = new ArrayDeque<>(shards);
        this.generating = toScore.isEmpty();
        this.total = generating ? shards.size() : toScore.size();
        this.scoring = !scorers.isEmpty();
        this.replyTo = replyTo;
        this.generatorReplies = context.messageAdapter(GenerationActor.Reply.class, FromGenerator::new);
        this.scorerReplies = context.messageAdapter(ScoringActor.Scored.class, FromScorer::new);
        this.progress = new Progress(job, scorers.isEmpty() ? "shards generated" : "shards scored", total);
        for (ActorRef<ScoringActor.Command> scorer : scorers) {
            context.watch(scorer);
            this.scorers.put(scorer, new TreeMap<>());
            scorerOrder.add(scorer);
        }
        for (ActorRef<GenerationActor.Command> generator : generators) {
            context.watch(generator);
            this.generators.put(generator, null);
            dispatch(generator);
        }
        for (GeneratedShard shard : toScore) {
            score(shard);
        }
    }

    public static Behavior<Command> create(String job, List<PromptShard> shards,
            List<ActorRef<GenerationActor.Command>> generators, List<ActorRef<ScoringActor.Command>> scorers,
            ActorRef<Done> replyTo) {
        return Behaviors.setup(context -> shards.isEmpty() ? done(job, replyTo)
                : new ShardJob(context, job, shards, generators, scorers, List.of(), replyTo));
    }

    /** Scores responses that already exist (offline pairs, held-out candidates): no generation. */
    public static Behavior<Command> scoreOnly(String job, List<GeneratedShard> shards,
            List<ActorRef<ScoringActor.Command>> scorers, ActorRef<Done> replyTo) {
        return Behaviors.setup(context -> shards.isEmpty() ? done(job, replyTo)
                : new ShardJob(context, job, List.of(), List.of(), scorers, shards, replyTo));
    }

    private static Behavior<Command> done(String job, ActorRef<Done> replyTo) {
        replyTo.tell(new Done(job, List.of(), List.of(), 0, 0));
        return Behaviors.stopped();
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(FromGenerator.class, this::onGenerated)
                .onMessage(FromScorer.class, this::onScored)
                .onSignal(Terminated.class, this::onWorkerGone)
                .build();
    }

    private void dispatch(ActorRef<GenerationActor.Command> generator) {
        PromptShard next = pending.poll();
        generators.put(generator, next);
        if (next != null) {
            RunObserver.shardDispatched(job, next);
            generator.tell(new GenerationActor.Generate(next, generatorReplies));
        }
    }

    private Behavior<Command> onGenerated(FromGenerator message) {
        if (message.reply() instanceof GenerationActor.Refused refused) {
            throw new IllegalStateException(job + ": shard " + refused.shard().getShard() + " refused: " + refused.reason());
        }
        GenerationActor.Generated reply = (GenerationActor.Generated) message.reply();
        GeneratedShard shard = reply.shard();
        if (generators.containsKey(reply.from())) {
            dispatch(reply.from()); // the generator that answered is free again: it pulls the next shard
        }
        if (generated.putIfAbsent(shard.getShard(), shard) != null) {
            duplicates++;
            return this;
        }
        RunObserver.shardGenerated(job, shard);
        if (scoring) {
            score(shard);
        } else {
            progress.advance(generated.size());
        }
        return finishIfDone();
    }

    private void score(GeneratedShard shard) {
        if (scorerOrder.isEmpty()) {
            throw new IllegalStateException(job + ": no scorer left to score shard " + shard.getShard());
        }
        ActorRef<ScoringActor.Command> scorer = scorerOrder.get(nextScorer++ % scorerOrder.size());
        scorers.get(scorer).put(shard.getShard(), shard);
        scorer.tell(new ScoringActor.Score(shard, scorerReplies));
    }

    private Behavior<Command> onScored(FromScorer message) {
        ScoredShard shard = message.scored().shard();
        scorers.values().forEach(inFlight -> inFlight.remove(shard.getShard()));
        if (scored.putIfAbsent(shard.getShard(), shard) != null) {
            duplicates++;
            return this;
        }
        RunObserver.shardScored(job, shard);
        progress.advance(scored.size());
        return finishIfDone();
    }

    /** A watched worker stopped: give its unanswered work to the others. */
    private Behavior<Command> onWorkerGone(Terminated signal) {
        if (generators.containsKey(signal.getRef())) {
            PromptShard lost = generators.remove(signal.getRef());
            getContext().getLog().warn("{}: generator {} is gone{}", job, signal.getRef().path().name(),
                    lost == null ? "" : "; shard " + lost.getShard() + " goes back to the queue");
            if (lost != null && !generated.containsKey(lost.getShard())) {
                pending.addFirst(lost);
                reassigned++;
            }
            if (generators.isEmpty() && (!pending.isEmpty() || generated.size() < total)) {
                throw new IllegalStateException(job + ": every generator is gone with " + (total - generated.size())
                        + " shards not generated");
            }
            generators.keySet().stream().filter(g -> generators.get(g) == null).toList().forEach(this::dispatch);
        } else if (scorers.containsKey(signal.getRef())) {
            Map<Integer, GeneratedShard> lost = scorers.remove(signal.getRef());
            scorerOrder.remove(signal.getRef());
            getContext().getLog().warn("{}: scorer {} is gone; {} shards go to another scorer", job,
                    signal.getRef().path().name(), lost.size());
            for (GeneratedShard shard : lost.values()) {
                reassigned++;
                score(shard);
            }
        }
        return this;
    }

    private Behavior<Command> finishIfDone() {
        int finished = scoring ? scored.size() : generated.size();
        RunObserver.jobProgress(job, finished, total);
        boolean done = finished == total;
        if (!done) {
            return this;
        }
        replyTo.tell(new Done(job, List.copyOf(generated.values()), List.copyOf(scored.values()), duplicates, reassigned));
        return Behaviors.stopped();
    }
}
