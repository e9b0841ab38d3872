package dev.dice.actors;

import dev.dice.gpu.AtomicFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * Brings {@code into} up to date with what a {@link FileServer} under a key serves: asks for its manifest, fetches
 * each file this node lacks or holds with other contents ({@link FileManifest#wanted}), part by part into a hidden
 * temporary file, checks its SHA-256 and puts it in place at once ({@link AtomicFiles}). A question that is not
 * answered within {@link #PATIENCE} is asked again, of whichever node serves then; a file whose digest does not match
 * is fetched again, {@link #ATTEMPTS} times at most. Blocks on the disk (digests, writes): spawn it on a blocking
 * dispatcher. Stops when done, telling how it went.
 */
public final class FileFetch {
    static final Duration PATIENCE = Duration.ofSeconds(10);
    static final int ATTEMPTS = 3;

    /** Only this node's: the answers arrive as {@link FileManifest} and {@link FileServer.Part}. */
    public sealed interface Command extends NoSerializationVerificationNeeded {}

    private record Servers(Receptionist.Listing listing) implements Command {}

    private record Listed(FileManifest manifest) implements Command {}

    private record Received(FileServer.Part part) implements Command {}

    private enum Retry implements Command { INSTANCE }

    /** How the fetch ended. */
    public sealed interface Outcome extends NoSerializationVerificationNeeded {}

    /** {@code into} holds every file served; {@code fetched} are those this fetch wrote. */
    public record Arrived(Path dir, List<FileManifest.Entry> fetched) implements Outcome {}

    /** The server serves {@code dir} itself (the nodes share the directory): nothing to fetch. */
    public record SameDirectory(Path dir) implements Outcome {}

    public record Failed(String why) implements Outcome {}

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final ServiceKey<FileServer.Command> key;
    private final Path into;
    private final Predicate<String> accepted;
    private final String label;
    private final ActorRef<Outcome> replyTo;
    private final ActorRef<FileServer.Part> parts;
    private final ActorRef<FileManifest> manifests;
    private List<ActorRef<FileServer.Command>> servers = List.of();
    private List<FileManifest.Entry> queue = List.of();
    private final List<FileManifest.Entry> fetched = new ArrayList<>();
    private int index;
    private int part;
    private int attempts = 1;
    private AtomicFiles.Pending pending;
    private MessageDigest digest;

    /**
     * @param accepted the paths this node takes (any other in the manifest fails the fetch)
     * @param label    what the files are, for the log ("tokenizer files")
     */
    public static Behavior<Command> create(ServiceKey<FileServer.Command> key, Path into, Predicate<String> accepted,
            String label, ActorRef<Outcome> replyTo) {
        return Behaviors.setup(context -> Behaviors.withTimers(timers -> new FileFetch(context, timers, key, into,
                accepted, label, replyTo).waiting()));
    }

    private FileFetch(ActorContext<Command> context, TimerScheduler<Command> timers, ServiceKey<FileServer.Command> key,
            Path into, Predicate<String> accepted, String label, ActorRef<Outcome> replyTo) {
        this.context = context;
        this.timers = timers;
        this.key = key;
        this.into = into;
        this.accepted = accepted;
        this.label = label;
        this.replyTo = replyTo;
        this.parts = context.messageAdapter(FileServer.Part.class, Received::new);
        this.manifests = context.messageAdapter(FileManifest.class, Listed::new);
        context.getSystem().receptionist().tell(Receptionist.subscribe(key,
                context.messageAdapter(Receptionist.Listing.class, Servers::new)));
    }

    /** No node serves the files yet. */
    private Behavior<Command> waiting() {
        return Behaviors.receive(Command.class).onMessage(Servers.class, s -> {
            servers = List.copyOf(s.listing().getServiceInstances(key));
            if (servers.isEmpty()) {
                return Behaviors.same();
            }
            ask(new FileServer.AskManifest(manifests));
            return listing();
        }).onSignal(PostStop.class, s -> Behaviors.same()).build();
    }

    /** The manifest is asked for. */
    private Behavior<Command> listing() {
        return Behaviors.receive(Command.class)
                .onMessage(Servers.class, this::servers)
                .onMessage(Retry.class, r -> {
                    ask(new FileServer.AskManifest(manifests));
                    return Behaviors.same();
                })
                .onMessage(Listed.class, l -> onManifest(l.manifest()))
                .build();
    }

    private Behavior<Command> onManifest(FileManifest manifest) {
        timers.cancel(Retry.INSTANCE);
        if (manifest.token() != null && manifest.token().equals(ownToken())) {
            replyTo.tell(new SameDirectory(into));
            return Behaviors.stopped();
        }
        Map<String, FileManifest.Entry> local = new HashMap<>();
        for (FileManifest.Entry e : manifest.files()) {
            if (!FileManifest.plain(e.path()) || !accepted.test(e.path())) {
                return fail("a node offered the file '" + e.path() + "'; expected a plain relative path of "
                        + label);
            }
            Path held = into.resolve(e.path());
            try {
                if (Files.isRegularFile(held) && Files.size(held) == e.size()) {
                    local.put(e.path(), FileManifest.entry(e.path(), held));
                }
            } catch (IOException | UncheckedIOException ex) {
                // unreadable here: fetched again
            }
        }
        for (FileManifest.Entry e : manifest.files()) {
            FileManifest.Entry held = local.get(e.path());
            if (e.sameContents(held) && held.modified() != e.modified()) {
                setModified(e); // the same file, written at another time here: it keeps the served file's time
            }
        }
        queue = FileManifest.wanted(manifest.files(), local);
        if (queue.isEmpty()) {
            return done();
        }
        startFile();
        return fetching();
    }

    /** Part {@link #part} of file {@link #index} is asked for. */
    private Behavior<Command> fetching() {
        return Behaviors.receive(Command.class)
                .onMessage(Servers.class, this::servers)
                .onMessage(Retry.class, r -> {
                    context.getLog().warn("{}: no answer for part {} of {} in {} s; asking again", label, part,
                            queue.get(index).path(), PATIENCE.toSeconds());
                    askPart();
                    return Behaviors.same();
                })
                .onMessage(Received.class, r -> onPart(r.part()))
                .onMessage(Listed.class, l -> Behaviors.same()) // an answer to a question asked again
                .onSignal(PostStop.class, s -> {
                    if (pending != null) {
                        pending.abandon();
                    }
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> servers(Servers s) {
        servers = List.copyOf(s.listing().getServiceInstances(key));
        return Behaviors.same();
    }

    private Behavior<Command> onPart(FileServer.Part p) {
        FileManifest.Entry entry = queue.get(index);
        if (!p.path().equals(entry.path()) || p.part() != part) {
            return Behaviors.same(); // an answer to a question asked again
        }
        if (!p.sha256().equals(entry.sha256())) {
            return fail(entry.path() + " changed on the serving node while it was fetched");
        }
        pending.append(p.data().getValue().asReadOnlyByteBuffer());
        digest.update(p.data().getValue().asReadOnlyByteBuffer());
        if (p.part() + 1 < p.parts()) {
            part++;
            askPart();
            return Behaviors.same();
        }
        String sha256 = HexFormat.of().formatHex(digest.digest());
        if (!sha256.equals(entry.sha256())) {
            pending.abandon();
            pending = null;
            if (++attempts > ATTEMPTS) {
                return fail(entry.path() + ": SHA-256 " + sha256 + " after " + ATTEMPTS + " attempts, the sender says "
                        + entry.sha256());
            }
            context.getLog().warn("{}: {} arrived with SHA-256 {}, the sender says {}; fetching it again", label,
                    entry.path(), sha256, entry.sha256());
            startFile();
            return Behaviors.same();
        }
        pending.commit();
        pending = null;
        setModified(entry);
        fetched.add(entry);
        context.getLog().info("{}: {} ({} bytes, sha256 {}) written to {}", label, entry.path(), entry.size(),
                sha256.substring(0, 12), into);
        attempts = 1;
        if (++index < queue.size()) {
            startFile();
            return Behaviors.same();
        }
        return done();
    }

    private void startFile() {
        part = 0;
        digest = FileManifest.newDigest();
        pending = AtomicFiles.begin(into.resolve(queue.get(index).path()));
        askPart();
    }

    private void askPart() {
        ask(new FileServer.AskPart(queue.get(index).path(), part, parts));
    }

    private void ask(FileServer.Command question) {
        if (!servers.isEmpty()) {
            servers.get(0).tell(question);
        }
        timers.startSingleTimer(Retry.INSTANCE, PATIENCE);
    }

    private void setModified(FileManifest.Entry entry) {
        try {
            Files.setLastModifiedTime(into.resolve(entry.path()), FileTime.fromMillis(entry.modified()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot set the time of " + into.resolve(entry.path()), e);
        }
    }

    private String ownToken() {
        try {
            Path file = into.resolve(FileManifest.TOKEN_FILE);
            return Files.isRegularFile(file) ? Files.readString(file).strip() : null;
        } catch (IOException e) {
            return null;
        }
    }

    private Behavior<Command> done() {
        timers.cancel(Retry.INSTANCE);
        replyTo.tell(new Arrived(into, List.copyOf(fetched)));
        return Behaviors.stopped();
    }

    private Behavior<Command> fail(String why) {
        if (pending != null) {
            pending.abandon();
            pending = null;
        }
        replyTo.tell(new Failed(why));
        return Behaviors.stopped();
    }
}
