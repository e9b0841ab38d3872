package dev.dice.coordinator;

import dev.dice.actors.GenerationActor;
import dev.dice.actors.ScoringActor;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.proto.ScoredShard;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * One generate(-and-score) job: hands prompt shards to generators one at a time (a free generator pulls
 * the next shard), passes each generated shard straight on to a scorer — scoring of a shard starts as soon
 * as it is generated, while generators continue — and answers with every shard once all are done.
 */
public final class ShardJob extends AbstractBehavior<ShardJob.Command> {

    /** A job lives beside its coordinator: its messages are never serialized. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    private record FromGenerator(GenerationActor.Reply reply) implements Command {}

    private record FromScorer(ScoringActor.Scored scored) implements Command {}

    /** The job's output, shards in shard order; {@code scored} is empty when no scorer was given. */
    public record Done(String job, List<GeneratedShard> generated, List<ScoredShard> scored)
            implements NoSerializationVerificationNeeded {}

    private final String job;
    private final Deque<PromptShard> pending;
    private final int total;
    private final boolean generating;
    private final List<ActorRef<ScoringActor.Command>> scorers;
    private final ActorRef<Done> replyTo;
    private final ActorRef<GenerationActor.Reply> generatorReplies;
    private final ActorRef<ScoringActor.Scored> scorerReplies;
    private final List<GeneratedShard> generated = new ArrayList<>();
    private final List<ScoredShard> scored = new ArrayList<>();
    private final Progress progress;
    private int nextScorer;

    private ShardJob(ActorContext<Command> context, String job, List<PromptShard> shards,
            List<ActorRef<GenerationActor.Command>> generators, List<ActorRef<ScoringActor.Command>> scorers,
            List<GeneratedShard> toScore, ActorRef<Done> replyTo) {
        super(context);
        this.job = job;
        this.pending = new ArrayDeque<>(shards);
        this.generating = toScore.isEmpty();
        this.total = generating ? shards.size() : toScore.size();
        this.scorers = scorers;
        this.replyTo = replyTo;
        this.generatorReplies = context.messageAdapter(GenerationActor.Reply.class, FromGenerator::new);
        this.scorerReplies = context.messageAdapter(ScoringActor.Scored.class, FromScorer::new);
        this.progress = new Progress(job, scorers.isEmpty() ? "shards generated" : "shards scored", total);
        for (ActorRef<GenerationActor.Command> generator : generators) {
            dispatch(generator);
        }
        for (GeneratedShard shard : toScore) {
            score(shard);
        }
    }

    public static Behavior<Command> create(String job, List<PromptShard> shards,
            List<ActorRef<GenerationActor.Command>> generators, List<ActorRef<ScoringActor.Command>> scorers,
            ActorRef<Done> replyTo) {
        return Behaviors.setup(context -> {
            if (shards.isEmpty()) {
                replyTo.tell(new Done(job, List.of(), List.of()));
                return Behaviors.stopped();
            }
            return new ShardJob(context, job, shards, generators, scorers, List.of(), replyTo);
        });
    }

    /** Scores responses that already exist (offline pairs, held-out candidates): no generation. */
    public static Behavior<Command> scoreOnly(String job, List<GeneratedShard> shards,
            List<ActorRef<ScoringActor.Command>> scorers, ActorRef<Done> replyTo) {
        return Behaviors.setup(context -> {
            if (shards.isEmpty()) {
                replyTo.tell(new Done(job, List.of(), List.of()));
                return Behaviors.stopped();
            }
            return new ShardJob(context, job, List.of(), List.of(), scorers, shards, replyTo);
        });
    }

    private void dispatch(ActorRef<GenerationActor.Command> generator) {
        if (!pending.isEmpty()) {
            generator.tell(new GenerationActor.Generate(pending.poll(), generatorReplies));
        }
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(FromGenerator.class, this::onGenerated)
                .onMessage(FromScorer.class, this::onScored)
                .build();
    }

    private Behavior<Command> onGenerated(FromGenerator message) {
        if (message.reply() instanceof GenerationActor.Refused refused) {
            throw new IllegalStateException(job + ": shard " + refused.shard().getShard() + " refused: " + refused.reason());
        }
        GeneratedShard shard = ((GenerationActor.Generated) message.reply()).shard();
        generated.add(shard);
        // The generator that answered is free again: it pulls the next shard.
        dispatch(generatorOf(message));
        if (scorers.isEmpty()) {
            progress.advance(generated.size());
        } else {
            score(shard);
        }
        return finishIfDone();
    }

    private void score(GeneratedShard shard) {
        scorers.get(nextScorer++ % scorers.size()).tell(new ScoringActor.Score(shard, scorerReplies));
    }

    private Behavior<Command> onScored(FromScorer message) {
        scored.add(message.scored().shard());
        progress.advance(scored.size());
        return finishIfDone();
    }

    private ActorRef<GenerationActor.Command> generatorOf(FromGenerator message) {
        return ((GenerationActor.Generated) message.reply()).from();
    }

    private Behavior<Command> finishIfDone() {
        RunObserver.jobProgress(job, generating && scorers.isEmpty() ? generated.size() : scored.size(), total);
        boolean done = generating ? generated.size() == total && (scorers.isEmpty() || scored.size() == total)
                : scored.size() == total;
        if (!done) {
            return this;
        }
        generated.sort(Comparator.comparingInt(GeneratedShard::getShard));
        scored.sort(Comparator.comparingInt(ScoredShard::getShard));
        replyTo.tell(new Done(job, List.copyOf(generated), List.copyOf(scored)));
        return Behaviors.stopped();
    }
}
