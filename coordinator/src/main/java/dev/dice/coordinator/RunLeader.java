package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import dev.dice.actors.FileServer;
import dev.dice.actors.ModelCopies;
import dev.dice.actors.ReplayBuffer;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;

/**
 * The coordinator singleton: on the node it lands on (the oldest with the coordinator role) it reads the run's
 * plan from the run directory, runs the {@link Coordinator} and tells its node how the run ended. When it moves
 * to another node after a failover, the new one starts again from what the run directory and the journal hold: the
 * shared directory, or the node's copy of the coordinator's ({@link RunMirror}, stopped first so that nothing writes
 * into the directory behind the coordinator's back). While it runs, its node serves the run directory's checkpoints
 * to nodes that do not share it ({@link ModelCopies}) and, to the nodes standing by, the run directory itself
 * ({@link RunFiles}), telling them each time the coordinator wrote into it.
 */
final class RunLeader {
    private RunLeader() {}

    sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Finished(Coordinator.Finished finished) implements Command {}

    private enum MirrorStopped implements Command { INSTANCE }

    /**
     * {@code setup}: the node's; its journal name names the run in the journal. {@code mirror}: this node's copy of the
     * coordinator's run directory, or null.
     */
    static Behavior<Command> create(NodeGuardian.Setup setup, ActorRef<ReplayBuffer.Command> replay,
            ActorRef<NodeGuardian.Command> node, ActorRef<RunMirror.Command> mirror) {
        return Behaviors.setup(context -> {
            if (mirror == null) {
                return lead(context, setup, replay, node);
            }
            context.watchWith(mirror, MirrorStopped.INSTANCE);
            mirror.tell(RunMirror.Halt.INSTANCE);
            return Behaviors.receive(Command.class)
                    .onMessage(MirrorStopped.class, stopped -> lead(context, setup, replay, node))
                    .build();
        });
    }

    private static Behavior<Command> lead(ActorContext<Command> context, NodeGuardian.Setup setup,
            ActorRef<ReplayBuffer.Command> replay, ActorRef<NodeGuardian.Command> node) {
        RunConfig config = setup.config();
        RunDirectory dir = setup.dir();
        ActorRef<Topic.Command<Coordination.RunFilesChanged>> changes = context.spawn(
                Topic.create(Coordination.RunFilesChanged.class, Coordination.RUN_FILES_TOPIC), "run-files-topic");
        RunPlan plan;
        try {
            dir.claim(config);
            plan = new RunPlan(config, dir, what -> changes.tell(Topic.publish(new Coordination.RunFilesChanged(what))));
            if (!setup.alone()) {
                context.spawn(FileServer.create(FileServer.RUN, new RunFiles(dir.root())), "run-files",
                        DispatcherSelector.blocking());
            }
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
    }
}
