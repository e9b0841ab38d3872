package dev.dice.coordinator;

import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.ModelFiles;
import dev.dice.work.Training;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * A run's checkpoints, checked before it starts: those its stages wrote must read back (a resumed run uses them
 * without training again), and the disk of the run directory must have room for those it will write. Both are
 * faults of the environment (a file damaged on disk, a disk too small): {@link RunFault}, exit code 1.
 */
final class RunCheckpoints {
    private static final String TRAIN_LOG = "train_log.json";

    private RunCheckpoints() {}

    /**
     * Every stage's saved model (one with its config.json) must match its config.json, from the weights' headers (a
     * file cut short or garbled, a missing tensor or file), and its training log must parse.
     */
    static void checkWritten(RunConfig config) {
        Path out = Path.of(config.out());
        for (String stage : RunPlan.stageNames(config)) {
            Path model = out.resolve(stage).resolve("model");
            if (!Files.isRegularFile(model.resolve(Checkpoint.CONFIG_FILE))) {
                continue; // not written yet: the stage trains
            }
            try {
                Checkpoint.check(model, LlamaConfig.load(model.resolve(Checkpoint.CONFIG_FILE)));
                if (Files.exists(model.resolve(TRAIN_LOG))) {
                    Checkpoint.readJson(model.resolve(TRAIN_LOG), Training.Step[].class);
                }
            } catch (BadInputException | UncheckedIOException e) {
                throw new RunFault(e.getMessage() + ": the checkpoint of stage " + stage + " is damaged; delete "
                        + out.resolve(stage) + " and run the same command again to compute that stage anew", e);
            }
        }
    }

    /** The disk of the run directory must hold the checkpoints of the stages still to be written. */
    static void checkSpace(RunConfig config) {
        Path out = Path.of(config.out());
        List<String> toWrite = toWrite(config);
        if (toWrite.isEmpty()) {
            return;
        }
        long each = modelFiles(config).weightsBytes(model(config));
        Path existing = out.toAbsolutePath().normalize();
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        long usable;
        try {
            usable = Files.getFileStore(existing).getUsableSpace();
        } catch (IOException | RuntimeException e) {
            return; // a disk that does not say how much is free is not refused; a full one ends the run cleanly later
        }
        shortage(out, toWrite.size(), each, usable).ifPresent(line -> {
            throw new RunFault(line, null);
        });
    }

    /**
     * One line when {@code stages} checkpoints of {@code each} bytes do not fit in {@code usable} bytes; the round
     * files and the journal are small beside them and not counted.
     */
    static Optional<String> shortage(Path out, int stages, long each, long usable) {
        long needed;
        try {
            needed = Math.multiplyExact(stages, each);
        } catch (ArithmeticException e) {
            needed = Long.MAX_VALUE;
        }
        if (needed <= usable) {
            return Optional.empty();
        }
        return Optional.of("dice.out (--out): " + out + ": the run will write " + stages + " checkpoint(s) of "
                + size(each) + " (" + size(needed) + "), but its disk has " + size(usable) + " free; free space,"
                + " choose another --out, or plan fewer rounds (nothing was written)");
    }

    /** The stages whose model is not on disk yet, and which write one (with a given model, SFT does not). */
    static List<String> toWrite(RunConfig config) {
        Path out = Path.of(config.out());
        return RunPlan.stageNames(config).stream()
                .filter(s -> !(s.equals("sft") && !config.model().dir().isEmpty()))
                .filter(s -> !Files.isRegularFile(out.resolve(s).resolve("model").resolve(Checkpoint.CONFIG_FILE)))
                .toList();
    }

    private static LlamaConfig model(RunConfig config) {
        return config.model().dir().isEmpty() ? config.model().builtin()
                : LlamaConfig.load(Path.of(config.model().dir()).resolve(Checkpoint.CONFIG_FILE));
    }

    private static ModelFiles modelFiles(RunConfig config) {
        if (config.model().dir().isEmpty()) {
            return ModelFiles.BUILT_HERE;
        }
        ModelFiles release = ModelFiles.of(Path.of(config.model().dir()), List.of());
        return config.model().float32Weights() ? release.withFloat32() : release;
    }

    static String size(long bytes) {
        String[] units = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
        double value = bytes;
        int unit = 0;
        while (value >= 1000 && unit < units.length - 1) {
            value /= 1000;
            unit++;
        }
        return unit == 0 ? bytes + " bytes" : String.format(Locale.ROOT, "%.1f %s", value, units[unit]);
    }
}
