package dev.dice.coordinator;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dice.actors.FileManifest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * What a run read, by content: SHA-256 (its first 64 bits) of the prompts, the offline pairs, the model's config.json and tokenizer files,
 * and the names and sizes of its weight files (hashing a 16 GB checkpoint at every start would cost minutes). A run
 * directory remembers them, so an input edited in place is noticed on resume instead of mixing old and new data.
 */
final class InputDigests {
    private static final List<String> MODEL_FILES = List.of("config.json", "generation_config.json", "tokenizer.json",
            "tokenizer_config.json");

    private InputDigests() {}

    static ObjectNode of(RunConfig config) {
        ObjectNode node = Jsonl.JSON.createObjectNode();
        file(node, "prompts", config.data().prompts());
        file(node, "offline_pairs", config.data().offlinePairs());
        if (!config.model().dir().isEmpty()) {
            Path dir = Path.of(config.model().dir());
            for (String name : MODEL_FILES) {
                if (Files.isRegularFile(dir.resolve(name))) {
                    node.put("model/" + name, sha256(dir.resolve(name)));
                }
            }
            try (Stream<Path> files = Files.list(dir)) {
                files.filter(f -> f.getFileName().toString().endsWith(".safetensors")).sorted().forEach(f -> node.put(
                        "model/" + f.getFileName() + " bytes", size(f)));
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + dir, e);
            }
        }
        if (!config.model().tokenizer().isEmpty() && !config.model().tokenizer().equals(config.model().dir())) {
            Path tokenizer = Path.of(config.model().tokenizer());
            Path file = Files.isDirectory(tokenizer) ? tokenizer.resolve("tokenizer.json") : tokenizer;
            file(node, "tokenizer", file.toString());
            file(node, "tokenizer_config", file.resolveSibling("tokenizer_config.json").toString());
        }
        return node;
    }

    private static void file(ObjectNode node, String key, String path) {
        if (!path.isEmpty() && Files.isRegularFile(Path.of(path))) {
            node.put(key, sha256(Path.of(path)));
        }
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    private static String sha256(Path file) {
        return FileManifest.sha256(file).substring(0, 16);
    }
}
