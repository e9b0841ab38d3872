package dev.dice.coordinator;

import dev.dice.actors.ModelCopies;
import dev.dice.actors.ReplayBuffer;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The coordinator singleton: on the node it lands on (the oldest with the coordinator role) it reads the run's
 * plan from the run directory, runs the {@link Coordinator} and tells its node how the run ended. When it moves
 * to another node after a failover, the new one starts again from what the run directory and the journal hold. While
 * it runs, its node serves the run directory's checkpoints to nodes that do not share it ({@link ModelCopies}).
 */
final class RunLeader {
    private RunLeader() {}

    sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Finished(Coordinator.Finished finished) implements Command {}

    /** {@code setup}: the node's; its journal name names the run in the journal. */
    static Behavior<Command> create(NodeGuardian.Setup setup, ActorRef<ReplayBuffer.Command> replay,
            ActorRef<NodeGuardian.Command> node) {
        RunConfig config = setup.config();
        RunDirectory dir = setup.dir();
        return Behaviors.setup(context -> {
            RunPlan plan;
            try {
                dir.claim(config);
                plan = new RunPlan(config, dir);
            } catch (RuntimeException e) {
                node.tell(new NodeGuardian.LeaderFailed(e));
                return Behaviors.stopped();
            }
            context.getLog().info("coordinator of run {} starts on {}", dir.root(), context.getSystem().address());
            ModelCopies copies = new ModelCopies(context.getSystem().settings().config(), setup.tokenizer(),
                    setup.device());
            context.watch(context.spawn(Coordinator.create(plan, setup.journalName(), replay, copies,
                    context.messageAdapter(Coordinator.Finished.class, Finished::new)), "coordinator"));
            return Behaviors.receive(Command.class)
                    .onMessage(Finished.class, finished -> {
                        node.tell(new NodeGuardian.LeaderFinished(finished.finished()));
                        return Behaviors.same();
                    })
                    .onSignal(Terminated.class, signal -> {
                        if (signal instanceof ChildFailed failed) {
                            node.tell(new NodeGuardian.LeaderFailed(failed.getCause()));
                        }
                        copies.close();
                        return Behaviors.stopped();
                    })
                    .onSignal(PostStop.class, signal -> {
                        copies.close();
                        return Behaviors.same();
                    })
                    .build();
        });
    }
}
