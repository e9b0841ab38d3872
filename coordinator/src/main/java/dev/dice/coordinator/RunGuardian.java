package dev.dice.coordinator;

import ai.djl.ndarray.NDManager;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.ReplayBuffer;
import dev.dice.actors.RewardShapingActor;
import dev.dice.actors.ScoringActor;
import dev.dice.actors.TrainerActor;
import dev.dice.gpu.Generator;
import dev.dice.gpu.Tokenizer;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/**
 * The root of a one-node run: joins the node to itself (a cluster of one holding every role), spawns the
 * workers on the model dispatcher and the coordinator, and completes {@code result} when the coordinator
 * finishes — or with the cause when any of them fails, so a run never hangs on a dead worker.
 */
final class RunGuardian {
    private RunGuardian() {}

    sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Finished(Coordinator.Finished finished) implements Command {}

    static Behavior<Command> create(RunPlan plan, String runId, NDManager device, Tokenizer tokenizer,
            CompletableFuture<List<StageResult>> result) {
        return Behaviors.setup(context -> {
            Cluster cluster = Cluster.get(context.getSystem());
            cluster.manager().tell(Join.create(cluster.selfMember().address()));
            RunConfig config = plan.config();
            DispatcherSelector model = DispatcherSelector.fromConfig("dice.model-dispatcher");
            ShardGeneration generation = new ShardGeneration(new Generator.Params(config.rounds().temperature(),
                    config.rounds().topP(), config.rounds().maxNewTokens()), config.cluster().batchRows(),
                    config.rounds().minResponseChars());
            List<ActorRef<GenerationActor.Command>> generators = new ArrayList<>();
            for (int i = 0; i < config.cluster().generators(); i++) {
                generators.add(watched(context, context.spawn(GenerationActor.create(device, tokenizer, generation),
                        "generator-" + i, model)));
            }
            List<ActorRef<ScoringActor.Command>> scorers = new ArrayList<>();
            for (int i = 0; i < config.cluster().scorers(); i++) {
                scorers.add(watched(context, context.spawn(ScoringActor.create(device, tokenizer,
                        new Scoring(config.cluster().batchRows())), "scorer-" + i, model)));
            }
            List<ActorRef<TrainerActor.Command>> trainers = new ArrayList<>();
            for (int i = 0; i < config.trainers().count(); i++) {
                trainers.add(watched(context, context.spawn(TrainerActor.create(device, tokenizer),
                        "trainer-" + i, model)));
            }
            Coordinator.Workers workers = new Coordinator.Workers(generators, scorers,
                    watched(context, context.spawn(RewardShapingActor.create(), "reward-shaping")),
                    watched(context, context.spawn(ReplayBuffer.create(runId), "replay-buffer")), trainers);
            ActorRef<Coordinator.Finished> done = context.messageAdapter(Coordinator.Finished.class, Finished::new);
            watched(context, context.spawn(Coordinator.create(plan, workers, done), "coordinator"));
            return Behaviors.receive(Command.class)
                    .onMessage(Finished.class, f -> {
                        result.complete(f.finished().stages());
                        return Behaviors.stopped();
                    })
                    .onSignal(Terminated.class, t -> {
                        // A generator, scorer or trainer may go: the jobs hand its work to the others (and fail when
                        // none is left). The coordinator, replay buffer and shaper are needed to the end.
                        if (generators.contains(t.getRef()) || scorers.contains(t.getRef())
                                || trainers.contains(t.getRef())) {
                            context.getLog().warn("{} stopped{}", t.getRef().path().name(),
                                    t instanceof ChildFailed f ? ": " + f.getCause() : "");
                            return Behaviors.same();
                        }
                        if (!result.isDone()) {
                            result.completeExceptionally(t instanceof ChildFailed f ? f.getCause()
                                    : new IllegalStateException(t.getRef().path().name() + " stopped"));
                        }
                        return Behaviors.stopped();
                    })
                    .build();
        });
    }

    private static <T> ActorRef<T> watched(ActorContext<Command> context, ActorRef<T> child) {
        context.watch(child);
        return child;
    }
}
