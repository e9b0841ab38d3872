package dev.dice.actors;

import com.google.protobuf.ByteString;
import com.google.protobuf.BytesValue;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * Serves the run's tokenizer files ({@code dice.model.tokenizer}: tokenizer.json, tokenizer_config.json...) to nodes
 * that cannot read them ({@link TokenizerFetch}): every node that loaded them from its disk registers one under
 * {@link #KEY}. A file goes in parts of {@link #PART_BYTES} (a message stays well under the cluster's 4 MiB frame), each
 * part naming the SHA-256 of the whole file.
 */
public final class TokenizerFiles {
    private TokenizerFiles() {}

    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "dice-tokenizer-files");

    static final int PART_BYTES = 1 << 20;

    public sealed interface Command permits Ask {}

    /** Part {@code part} of file {@code file} (in the order the tokenizer lists its files). */
    public record Ask(int file, int part, ActorRef<Part> replyTo) implements Command, Wire {}

    /** {@code data} is part {@code part} of {@code parts} of the file {@code name}, the {@code file}-th of {@code files}. */
    public record Part(String name, int file, int files, int part, int parts, String sha256, BytesValue data)
            implements Wire {}

    private record File(String name, byte[] bytes, String sha256) {
        int parts() {
            return Math.max(1, (bytes.length + PART_BYTES - 1) / PART_BYTES);
        }
    }

    /** Reads {@code files} once and registers with the receptionist. */
    public static Behavior<Command> create(List<Path> files) {
        return Behaviors.setup(context -> {
            List<File> held = new ArrayList<>();
            for (Path path : files) {
                try {
                    byte[] bytes = Files.readAllBytes(path);
                    held.add(new File(path.getFileName().toString(), bytes, sha256Hex(bytes)));
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read the tokenizer file " + path, e);
                }
            }
            context.getSystem().receptionist().tell(Receptionist.register(KEY, context.getSelf()));
            return Behaviors.receive(Command.class).onMessage(Ask.class, ask -> {
                if (ask.file() < 0 || ask.file() >= held.size() || ask.part() < 0
                        || ask.part() >= held.get(ask.file()).parts()) {
                    context.getLog().warn("tokenizer files: no part {} of file {} ({} files)", ask.part(), ask.file(),
                            held.size());
                    return Behaviors.same();
                }
                File f = held.get(ask.file());
                int from = ask.part() * PART_BYTES;
                ByteString data = ByteString.copyFrom(f.bytes(), from, Math.min(PART_BYTES, f.bytes().length - from));
                ask.replyTo().tell(new Part(f.name(), ask.file(), held.size(), ask.part(), f.parts(), f.sha256(),
                        BytesValue.of(data)));
                return Behaviors.same();
            }).build();
        });
    }

    static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }
}
