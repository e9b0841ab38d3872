package dev.dice.actors;

import com.google.protobuf.BytesValue;
import com.google.protobuf.UnsafeByteOperations;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * Serves files to nodes that cannot read them ({@link FileFetch}), registered with the receptionist under a key: the
 * user's tokenizer files ({@link #TOKENIZER}, every node that read them from its disk) and the coordinator's run
 * directory ({@link #RUN}, the coordinator's node, for the nodes that stand by to take the coordinator over). A node
 * first asks for the {@link FileManifest}, then for each file in parts of {@link #PART_BYTES} read from disk as they
 * are asked for (a message stays well under the cluster's 4 MiB frame; a checkpoint of any size is never held in
 * memory), each part naming the SHA-256 of the whole file. Blocks on the disk: spawn it on a blocking dispatcher.
 */
public final class FileServer {
    private FileServer() {}

    public static final ServiceKey<Command> TOKENIZER = ServiceKey.create(Command.class, "dice-tokenizer-files");

    public static final ServiceKey<Command> RUN = ServiceKey.create(Command.class, "dice-run-files");

    static final int PART_BYTES = 1 << 20;

    public sealed interface Command permits AskManifest, AskPart {}

    public record AskManifest(ActorRef<FileManifest> replyTo) implements Command, Wire {}

    /** Part {@code part} of the file served as {@code path}. */
    public record AskPart(String path, int part, ActorRef<Part> replyTo) implements Command, Wire {}

    /** {@code data} is part {@code part} of {@code parts} of the file {@code path}, whose digest is {@code sha256}. */
    public record Part(String path, int part, int parts, String sha256, BytesValue data) implements Wire {}

    static int parts(long size) {
        return (int) Math.max(1, (size + PART_BYTES - 1) / PART_BYTES);
    }

    public static Behavior<Command> create(ServiceKey<Command> key, FileCatalogue catalogue) {
        return Behaviors.setup(context -> {
            context.getSystem().receptionist().tell(Receptionist.register(key, context.getSelf()));
            return Behaviors.receive(Command.class)
                    .onMessage(AskManifest.class, ask -> {
                        List<FileManifest.Entry> entries = new ArrayList<>();
                        for (String path : catalogue.paths()) {
                            try {
                                entries.add(FileManifest.entry(path, catalogue.resolve(path)));
                            } catch (RuntimeException e) {
                                context.getLog().debug("{}: '{}' went away while listed", key.id(), path);
                            }
                        }
                        ask.replyTo().tell(new FileManifest(catalogue.token(), entries));
                        return Behaviors.same();
                    })
                    .onMessage(AskPart.class, ask -> {
                        Path file = catalogue.resolve(ask.path());
                        try {
                            FileManifest.Entry entry = FileManifest.entry(ask.path(), file);
                            if (ask.part() >= 0 && ask.part() < parts(entry.size())) {
                                ask.replyTo().tell(new Part(ask.path(), ask.part(), parts(entry.size()), entry.sha256(),
                                        BytesValue.of(UnsafeByteOperations.unsafeWrap(read(file, ask.part())))));
                                return Behaviors.same();
                            }
                        } catch (RuntimeException e) {
                            // not served, or gone: the fetching node asks again and gives up after its attempts
                        }
                        context.getLog().warn("{}: no part {} of '{}'", key.id(), ask.part(), ask.path());
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    private static ByteBuffer read(Path file, int part) {
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            long from = (long) part * PART_BYTES;
            ByteBuffer buffer = ByteBuffer.allocate((int) Math.max(0, Math.min(PART_BYTES, in.size() - from)));
            while (buffer.hasRemaining() && in.read(buffer, from + buffer.position()) >= 0) {
                // until the part is read, or the file ends early (it changed: the digest tells the fetching node)
            }
            return buffer.flip();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }
}
