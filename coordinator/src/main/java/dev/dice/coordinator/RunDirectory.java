package dev.dice.coordinator;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Checkpoint;
import dev.dice.work.Training;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A run's directory: its configuration, one folder per stage (model checkpoint, stage.json once evaluated),
 * the round files, the journal and the summary. A directory made with a different configuration is
 * refused rather than mixed; the number of rounds may grow (earlier stages do not depend on it).
 */
final class RunDirectory {
    static final String CONFIG_FILE = "run-config.json";
    static final String TRAIN_LOG = "train_log.json";

    private final Path root;

    RunDirectory(Path root) {
        this.root = root;
    }

    Path root() {
        return root;
    }

    /** Creates the directory, or checks that an existing one was made with the same configuration. */
    void claim(RunConfig config) {
        ObjectNode wanted = fingerprint(config);
        Path file = root.resolve(CONFIG_FILE);
        if (Files.exists(file)) {
            JsonNode existing = Jsonl.readJson(file, JsonNode.class);
            List<String> differences = new ArrayList<>();
            diff("dice", existing, wanted, differences);
            if (!differences.isEmpty()) {
                throw new BadInputException(file + ": this run directory was made with a different configuration ("
                        + String.join("; ", differences) + "). Use another --out, or delete the directory.");
            }
        } else {
            Checkpoint.writeJson(file, wanted); // at once: two coordinator nodes may claim the directory together
        }
    }

    private static ObjectNode fingerprint(RunConfig config) {
        ObjectNode node = Jsonl.JSON.valueToTree(config);
        node.remove("out");
        // N data-parallel trainers compute the same steps as one (up to float rounding): a run may resume with another count.
        node.remove("trainers");
        // How long to wait and where metrics go change nothing a run computes.
        node.remove("waits");
        node.remove("metrics");
        // Rows in flight do not change what a row samples, nor where and on how many threads it is sampled and scored.
        ((ObjectNode) node.get("cluster")).remove(List.of("generatorMemory", "generators", "scorers", "threadsPerWorker"));
        ((ObjectNode) node.get("rounds")).remove("count");
        node.set("inputs", InputDigests.of(config));
        return node;
    }

    private static void diff(String path, JsonNode was, JsonNode now, List<String> out) {
        if (was.isObject() && now.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = now.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                JsonNode before = was.get(e.getKey());
                if (before == null && e.getKey().equals("inputs")) {
                    continue; // a directory made before inputs were remembered by content
                }
                if (before == null) {
                    out.add(path + "." + e.getKey() + ": new");
                } else {
                    diff(path + "." + e.getKey(), before, e.getValue(), out);
                }
            }
        } else if (was.isNumber() && now.isNumber()) {
            // 0 read back from the file is an int node; the same 0 from a long field is a long node.
            if (was.decimalValue().compareTo(now.decimalValue()) != 0) {
                out.add(path + ": " + was + " -> " + now);
            }
        } else if (!was.equals(now)) {
            out.add(path + ": " + was + " -> " + now);
        }
    }

    /**
     * {@code path} as the run stores it (in shards, the journal and the messages to trainers): relative to the run
     * directory when inside it, so a run that is moved or copied finds its checkpoints where it is now.
     */
    Path stored(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Path here = root.toAbsolutePath().normalize();
        return absolute.startsWith(here) ? here.relativize(absolute) : absolute;
    }

    /** A path the run stored ({@link #stored}), where it is now. */
    Path resolve(Path stored) {
        return root.resolve(stored);
    }

    Path stage(String name) {
        return root.resolve(name);
    }

    Path model(String stage) {
        return stage(stage).resolve("model");
    }

    /** A stage is finished once its model is saved and its evaluation written. */
    boolean finished(String stage) {
        return Files.exists(model(stage).resolve(Checkpoint.CONFIG_FILE)) && Files.exists(stage(stage).resolve("stage.json"));
    }

    StageResult result(String stage) {
        return Jsonl.readJson(stage(stage).resolve("stage.json"), StageResult.class);
    }

    void saveResult(StageResult result) {
        Jsonl.writeJson(stage(result.name()).resolve("stage.json"), result);
    }

    /**
     * The training log of a stage whose model the trainer finished writing (the log is written last), or null. A
     * coordinator that takes over mid-stage does not train such a stage again.
     */
    List<Training.Step> trainedLog(String stage) {
        Path log = model(stage).resolve(TRAIN_LOG);
        if (!Files.exists(log) || !Files.exists(model(stage).resolve(Checkpoint.CONFIG_FILE))) {
            return null;
        }
        return List.of(Checkpoint.readJson(log, Training.Step[].class));
    }

    /**
     * A stamp of the checkpoints a job uses (its generating policy, its scoring policy and reference) as they are on
     * disk (their files' sizes and modification times): equal on every node that shares the run directory, different
     * once a model is written again.
     */
    String stamp(JobSpec job) {
        List<Path> models = new ArrayList<>();
        if (!job.prompts().isEmpty()) {
            models.add(resolve(Path.of(job.prompts().get(0).getPolicyDir())));
        }
        if (job.scoring() != null) {
            models.addAll(List.of(resolve(job.scoring().policyDir()), resolve(job.scoring().referenceDir())));
        }
        long hash = 17;
        for (Path model : models) {
            try (Stream<Path> files = Files.list(model)) {
                for (Path f : files.sorted().toList()) {
                    hash = hash * 31 + f.getFileName().toString().hashCode();
                    hash = hash * 31 + Files.size(f);
                    hash = hash * 31 + Files.getLastModifiedTime(f).toMillis();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(model + ": cannot list the checkpoint", e);
            }
        }
        return Long.toHexString(hash);
    }

    Path journal() {
        try {
            return Files.createDirectories(root.resolve("journal"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
