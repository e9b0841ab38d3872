package dev.dice.coordinator;

import dev.dice.actors.FileCatalogue;
import dev.dice.actors.FileManifest;
import dev.dice.gpu.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * The run directory as the coordinator's node serves it to the nodes that stand by ({@link RunMirror}): every file but
 * {@code run.lock} and the H2 journal (each node's own) and hidden files (temporary files, the token). A stage's
 * markers come last — its model's {@code config.json}, then {@code train_log.json}, then {@code stage.json}, the
 * files by which a coordinator judges a stage's model trained or the stage finished ({@link RunDirectory}) — so a copy
 * cut short never holds the marker of a stage without the files it marks.
 */
final class RunFiles implements FileCatalogue {
    private static final List<String> MARKERS = List.of(Checkpoint.CONFIG_FILE, RunDirectory.TRAIN_LOG, "stage.json");

    private final Path root;
    private final String token;

    /** Serves {@code root}; writes a new token into it, by which a node that shares the directory recognises it. */
    RunFiles(Path root) {
        this.root = root;
        this.token = UUID.randomUUID().toString();
        try {
            Files.writeString(root.resolve(FileManifest.TOKEN_FILE), token + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + root.resolve(FileManifest.TOKEN_FILE), e);
        }
    }

    /** Whether the file {@code path} (relative, '/'-separated) of a run directory is copied to the nodes standing by. */
    static boolean mirrored(String path) {
        return FileManifest.plain(path) && !path.equals(RunLock.FILE) && !path.startsWith("journal/");
    }

    /** {@code paths} in the order a node fetches them: a stage's markers after every other file. */
    static List<String> inFetchOrder(List<String> paths) {
        Comparator<String> markersLast = Comparator.comparingInt(p -> MARKERS.indexOf(p.substring(p.lastIndexOf('/') + 1)));
        return paths.stream().sorted(markersLast.thenComparing(Comparator.naturalOrder())).toList();
    }

    @Override
    public List<String> paths() {
        try (Stream<Path> files = Files.walk(root)) {
            return inFetchOrder(files.filter(Files::isRegularFile)
                    .map(f -> root.relativize(f).toString().replace(java.io.File.separatorChar, '/'))
                    .filter(RunFiles::mirrored).toList());
        } catch (IOException | UncheckedIOException e) {
            return List.of(); // a file removed while listed: the next change lists again
        }
    }

    @Override
    public Path resolve(String path) {
        return mirrored(path) ? root.resolve(path) : null;
    }

    @Override
    public String token() {
        return token;
    }
}
