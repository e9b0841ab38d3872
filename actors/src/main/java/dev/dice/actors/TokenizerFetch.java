package dev.dice.actors;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;

/**
 * Copies the run's tokenizer files into {@code into} for a node that cannot read {@code dice.model.tokenizer}: from any
 * node that serves them ({@link TokenizerFiles}), part by part, each file checked against its SHA-256 before it is
 * written (atomically). A part that does not come within {@link #PATIENCE} is asked again, of whichever node serves
 * then; a file whose digest does not match is fetched again, {@link #ATTEMPTS} times at most. Stops when done.
 */
public final class TokenizerFetch {
    static final Duration PATIENCE = Duration.ofSeconds(10);
    static final int ATTEMPTS = 3;

    /** Only this node's: the parts themselves arrive as {@link TokenizerFiles.Part}. */
    public sealed interface Command extends NoSerializationVerificationNeeded permits Servers, Received, Retry {}

    private record Servers(Receptionist.Listing listing) implements Command {}

    private record Received(TokenizerFiles.Part part) implements Command {}

    private enum Retry implements Command { INSTANCE }

    /** How the fetch ended (told to this node's guardian). */
    public sealed interface Outcome extends NoSerializationVerificationNeeded permits Arrived, Failed {}

    /** Every file is in {@code dir}. */
    public record Arrived(Path dir) implements Outcome {}

    public record Failed(String why) implements Outcome {}

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final Path into;
    private final ActorRef<Outcome> replyTo;
    private final ActorRef<TokenizerFiles.Part> parts;
    private List<ActorRef<TokenizerFiles.Command>> servers = List.of();
    private ByteArrayOutputStream file = new ByteArrayOutputStream();
    private int fileIndex;
    private int partIndex;
    private int attempts = 1;

    public static Behavior<Command> create(Path into, ActorRef<Outcome> replyTo) {
        return Behaviors.setup(context -> Behaviors.withTimers(timers -> new TokenizerFetch(context, timers, into,
                replyTo).waiting()));
    }

    private TokenizerFetch(ActorContext<Command> context, TimerScheduler<Command> timers, Path into,
            ActorRef<Outcome> replyTo) {
        this.context = context;
        this.timers = timers;
        this.into = into;
        this.replyTo = replyTo;
        this.parts = context.messageAdapter(TokenizerFiles.Part.class, Received::new);
        context.getSystem().receptionist().tell(Receptionist.subscribe(TokenizerFiles.KEY,
                context.messageAdapter(Receptionist.Listing.class, Servers::new)));
        context.getLog().info("tokenizer files: not readable here; fetching them into {} from a node that has them", into);
    }

    /** No node serves the files yet. */
    private Behavior<Command> waiting() {
        return Behaviors.receive(Command.class).onMessage(Servers.class, s -> {
            servers = List.copyOf(s.listing().getServiceInstances(TokenizerFiles.KEY));
            if (servers.isEmpty()) {
                return Behaviors.same();
            }
            ask();
            return fetching();
        }).build();
    }

    /** Part {@link #partIndex} of file {@link #fileIndex} is asked for. */
    private Behavior<Command> fetching() {
        return Behaviors.receive(Command.class)
                .onMessage(Servers.class, s -> {
                    servers = List.copyOf(s.listing().getServiceInstances(TokenizerFiles.KEY));
                    return Behaviors.same();
                })
                .onMessage(Retry.class, r -> {
                    context.getLog().warn("tokenizer files: no answer for part {} of file {} in {} s; asking again",
                            partIndex, fileIndex, PATIENCE.toSeconds());
                    ask();
                    return Behaviors.same();
                })
                .onMessage(Received.class, r -> onPart(r.part()))
                .build();
    }

    private Behavior<Command> onPart(TokenizerFiles.Part part) {
        if (part.file() != fileIndex || part.part() != partIndex) {
            return Behaviors.same(); // an answer to a question asked again
        }
        if (!Path.of(part.name()).getFileName().toString().equals(part.name()) || part.name().startsWith(".")) {
            return fail("a node sent a tokenizer file named '" + part.name() + "'; expected a plain file name");
        }
        file.writeBytes(part.data().getValue().toByteArray());
        if (part.part() + 1 < part.parts()) {
            partIndex++;
            ask();
            return Behaviors.same();
        }
        byte[] bytes = file.toByteArray();
        file = new ByteArrayOutputStream();
        partIndex = 0;
        String sha256 = TokenizerFiles.sha256Hex(bytes);
        if (!sha256.equals(part.sha256())) {
            if (++attempts > ATTEMPTS) {
                return fail(part.name() + ": SHA-256 " + sha256 + " after " + ATTEMPTS + " attempts, the sender says "
                        + part.sha256());
            }
            context.getLog().warn("tokenizer files: {} arrived with SHA-256 {}, the sender says {}; fetching it again",
                    part.name(), sha256, part.sha256());
            ask();
            return Behaviors.same();
        }
        write(into.resolve(part.name()), bytes);
        context.getLog().info("tokenizer files: {} ({} bytes, sha256 {}) written to {}", part.name(), bytes.length,
                sha256.substring(0, 12), into);
        attempts = 1;
        if (++fileIndex < part.files()) {
            ask();
            return Behaviors.same();
        }
        timers.cancel(Retry.INSTANCE);
        replyTo.tell(new Arrived(into));
        return Behaviors.stopped();
    }

    private void ask() {
        if (!servers.isEmpty()) {
            servers.get(0).tell(new TokenizerFiles.Ask(fileIndex, partIndex, parts));
        }
        timers.startSingleTimer(Retry.INSTANCE, PATIENCE);
    }

    private Behavior<Command> fail(String why) {
        replyTo.tell(new Failed(why));
        return Behaviors.stopped();
    }

    private static void write(Path target, byte[] bytes) {
        try {
            Files.createDirectories(target.getParent());
            Path temp = Files.createTempFile(target.getParent(), target.getFileName().toString(), ".part");
            Files.write(temp, bytes);
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tokenizer file " + target, e);
        }
    }
}
