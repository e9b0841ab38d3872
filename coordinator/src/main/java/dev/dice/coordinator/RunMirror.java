package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import dev.dice.actors.FileFetch;
import dev.dice.actors.FileManifest;
import dev.dice.actors.FileServer;
import dev.dice.gpu.BadInputException;
import java.nio.file.Path;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * On a node that stands by to take the coordinator over, keeps its run directory a copy of the coordinator's: when
 * the coordinator's node starts serving its run directory ({@link FileServer#RUN}) and whenever the coordinator says it
 * wrote something ({@link Coordination.RunFilesChanged}), fetches what this node lacks or holds with other contents
 * ({@link FileFetch}, {@link RunFiles#mirrored}). A node that shares the coordinator's directory has nothing to copy.
 * Separate directories need a journal both nodes reach: with the H2 journal, which lives in the coordinator's
 * directory, a coordinator that moved here would find none, so the node refuses to stand by. Stopped by
 * {@link RunLeader} before the coordinator starts here: from then on this node's directory is the run's.
 */
final class RunMirror {
    private RunMirror() {}

    sealed interface Command extends NoSerializationVerificationNeeded {}

    /** The coordinator starts on this node. */
    enum Halt implements Command { INSTANCE }

    private record Changed(Coordination.RunFilesChanged changed) implements Command {}

    private record Servers(Receptionist.Listing listing) implements Command {}

    private record Fetched(FileFetch.Outcome outcome) implements Command {}

    /** {@code h2Journal}: the journal is the H2 file in each node's own directory. */
    static Behavior<Command> create(Path root, boolean h2Journal, ActorRef<NodeGuardian.Command> node) {
        return Behaviors.setup(context -> {
            ActorRef<Topic.Command<Coordination.RunFilesChanged>> topic = context.spawn(
                    Topic.create(Coordination.RunFilesChanged.class, Coordination.RUN_FILES_TOPIC), "run-files-topic");
            topic.tell(Topic.subscribe(context.messageAdapter(Coordination.RunFilesChanged.class, Changed::new)));
            context.getSystem().receptionist().tell(Receptionist.subscribe(FileServer.RUN,
                    context.messageAdapter(Receptionist.Listing.class, Servers::new)));
            return new Mirror(context, root, h2Journal, node).idle();
        });
    }

    private static final class Mirror {
        private final ActorContext<Command> context;
        private final Path root;
        private final boolean h2Journal;
        private final ActorRef<NodeGuardian.Command> node;
        private int fetches;

        Mirror(ActorContext<Command> context, Path root, boolean h2Journal, ActorRef<NodeGuardian.Command> node) {
            this.context = context;
            this.root = root;
            this.h2Journal = h2Journal;
            this.node = node;
        }

        /** Up to date with what the coordinator last said, or no coordinator serves yet. */
        Behavior<Command> idle() {
            return Behaviors.receive(Command.class)
                    .onMessage(Halt.class, h -> Behaviors.stopped())
                    .onMessage(Changed.class, c -> fetch())
                    .onMessage(Servers.class, s -> s.listing().getServiceInstances(FileServer.RUN).isEmpty()
                            ? Behaviors.same() : fetch())
                    .build();
        }

        private Behavior<Command> fetch() {
            // On H2 the node only learns whether it shares the directory: it takes no file, and refuses if not.
            context.spawn(FileFetch.create(FileServer.RUN, root, h2Journal ? path -> false : RunFiles::mirrored,
                    "run files", context.messageAdapter(FileFetch.Outcome.class, Fetched::new)),
                    "fetch-" + (++fetches), DispatcherSelector.blocking());
            return fetching(false);
        }

        /** A fetch runs; {@code again}: the coordinator wrote more since it started. */
        private Behavior<Command> fetching(boolean again) {
            return Behaviors.receive(Command.class)
                    .onMessage(Halt.class, h -> Behaviors.stopped()) // the fetch stops first, its partial file removed
                    .onMessage(Changed.class, c -> fetching(true))
                    .onMessage(Servers.class, s -> s.listing().getServiceInstances(FileServer.RUN).isEmpty()
                            ? Behaviors.same() : fetching(true))
                    .onMessage(Fetched.class, f -> fetched(f.outcome(), again))
                    .build();
        }

        private Behavior<Command> fetched(FileFetch.Outcome outcome, boolean again) {
            if (outcome instanceof FileFetch.SameDirectory) {
                context.getLog().info("run files: this node shares the coordinator's run directory {}", root);
                return sharing();
            }
            if (h2Journal) {
                node.tell(new NodeGuardian.Refused(new BadInputException("dice.journal.kind = h2: this node stands by"
                        + " to take the coordinator over (role coordinator) in its own run directory " + root
                        + ", but the H2 journal is in the coordinator's; set dice.journal.kind = postgres on every"
                        + " node, or give this node the coordinator's --out, or drop its coordinator role")));
                return Behaviors.stopped();
            }
            if (outcome instanceof FileFetch.Arrived arrived && !arrived.fetched().isEmpty()) {
                context.getLog().info("run files: {} file(s), {} bytes of the coordinator's run directory mirrored into {}",
                        arrived.fetched().size(), arrived.fetched().stream().mapToLong(FileManifest.Entry::size).sum(),
                        root);
            } else if (outcome instanceof FileFetch.Failed failed) {
                context.getLog().warn("run files: the copy of the coordinator's run directory is behind: {}", failed.why());
            }
            return again ? fetch() : idle();
        }

        /** The directory is the coordinator's own: nothing to copy, ever. */
        private Behavior<Command> sharing() {
            return Behaviors.receive(Command.class).onMessage(Halt.class, h -> Behaviors.stopped())
                    .onAnyMessage(m -> Behaviors.same()).build();
        }
    }
}
