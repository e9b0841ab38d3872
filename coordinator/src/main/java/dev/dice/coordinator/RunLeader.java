package dev.dice.coordinator;

import dev.dice.actors.ReplayBuffer;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The coordinator singleton: on the node it lands on (the oldest with the coordinator role) it reads the run's
 * plan from the run directory, runs the {@link Coordinator} and tells its node how the run ended. When it moves
 * to another node after a failover, the new one starts again from what the run directory and the journal hold.
 */
final class RunLeader {
    private RunLeader() {}

    sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Finished(Coordinator.Finished finished) implements Command {}

    static Behavior<Command> create(RunConfig config, RunDirectory dir, String runId, ActorRef<ReplayBuffer.Command> replay,
            ActorRef<NodeGuardian.Command> node) {
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
            context.watch(context.spawn(Coordinator.create(plan, runId, replay,
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
                        return Behaviors.stopped();
                    })
                    .build();
        });
    }
}
