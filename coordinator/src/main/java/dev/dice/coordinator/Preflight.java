package dev.dice.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.HfTokenizer;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.Tokenizer;
import dev.dice.ops.DiceMetrics;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.h2.api.ErrorCode;

/**
 * Everything a run needs, checked before any of it starts (and before {@code run-config.json} is written): the
 * configuration's keys and values, the device, the model, the input files, the output directory, the checkpoints of a
 * resumed run and the room for those to come, the metrics port and the journal. Problems of the input are reported
 * together, one line each ({@link BadInputException}); a journal that cannot be reached is a {@link RunFault}. What
 * passes ends with the run directory's lock held.
 */
final class Preflight {
    private Preflight() {}

    /** Checks the run {@code root} describes for a node with {@code roles}; returns the run directory's lock. */
    static RunLock check(Config root, Set<String> roles, boolean alone) {
        Problems problems = new Problems();
        ConfigKeys.unknown(root, Nodes.config(ConfigFactory.empty())).forEach(problems::add);
        RunConfig config = null;
        try {
            config = RunConfig.from(root);
        } catch (BadInputException e) {
            problems.add(e.getMessage());
        }
        try {
            DeviceName.check(root.getString("dice.device"));
        } catch (BadInputException e) {
            problems.add(e.getMessage());
        }
        int port = root.getInt("dice.metrics.port");
        if (port < 0 || port > 65535) {
            problems.add("dice.metrics.port (--metrics-port): expected 0 (off) or a port in 1..65535, got " + port);
        }
        if (config == null) {
            problems.throwIfAny();
        }
        outputDirectory(Path.of(config.out()), problems);
        if (roles.contains("coordinator")) {
            inputs(config, problems);
            finishedStages(Path.of(config.out()), problems);
        }
        problems.throwIfAny();
        if (roles.contains("coordinator")) {
            RunCheckpoints.checkWritten(config);
            RunCheckpoints.checkSpace(config);
        }
        if (roles.contains("coordinator") || roles.contains("replay")) {
            journalReachable(config);
        }
        RunLock lock = RunLock.acquire(Path.of(config.out()), alone);
        try {
            bindMetrics(config.metrics());
        } catch (RuntimeException e) {
            lock.close();
            throw e;
        }
        return lock;
    }

    private static void outputDirectory(Path out, Problems problems) {
        Path existing = out.toAbsolutePath().normalize();
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null) {
            problems.add("dice.out (--out): " + out + ": no existing parent directory");
        } else if (!Files.isDirectory(existing)) {
            problems.add("dice.out (--out): " + out + ": " + existing + " is a file, expected a directory");
        } else if (!Files.isWritable(existing)) {
            problems.add("dice.out (--out): " + out + ": " + existing + " is not writable");
        }
    }

    /** The records of the stages a resumed run will not compute again must read back, or the run says what to delete. */
    private static void finishedStages(Path out, Problems problems) {
        if (!Files.isDirectory(out)) {
            return;
        }
        try (java.util.stream.Stream<Path> dirs = Files.list(out)) {
            for (Path stage : dirs.filter(d -> Files.isRegularFile(d.resolve("stage.json"))).sorted().toList()) {
                try {
                    Jsonl.JSON.readValue(stage.resolve("stage.json").toFile(), StageResult.class);
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    problems.add(stage.resolve("stage.json") + ": unreadable (" + e.getOriginalMessage() + "); delete "
                            + stage + " and run the same command again to compute that stage anew");
                } catch (java.io.IOException e) {
                    problems.add(stage.resolve("stage.json") + ": cannot be read (" + e.getMessage() + ")");
                }
            }
        } catch (java.io.IOException e) {
            problems.add("dice.out (--out): " + out + ": cannot be listed (" + e.getMessage() + ")");
        }
    }

    /** The model, its tokenizer and context, then the user's files against them. */
    private static void inputs(RunConfig config, Problems problems) {
        RunConfig.Model model = config.model();
        int context = model.context();
        Tokenizer tokenizer = new ByteTokenizer();
        if (!model.dir().isEmpty()) {
            try {
                LlamaConfig loaded = modelConfig(Path.of(model.dir()));
                context = loaded.context();
                try {
                    Checkpoint.check(Path.of(model.dir()), loaded);
                } catch (BadInputException e) {
                    problems.add(e.getMessage());
                }
                HfTokenizer hf = HfTokenizer.load(Path.of(model.tokenizer()));
                tokenizer = model.chatTemplate() ? hf : hf.withoutChatTemplate();
                Tokenizer.checkFits(tokenizer, loaded, "dice.model.tokenizer (--tokenizer) " + model.tokenizer());
            } catch (BadInputException e) {
                problems.add(e.getMessage());
                return;
            } catch (RuntimeException e) {
                problems.add("dice.model.tokenizer (--tokenizer): " + model.tokenizer() + ": cannot load the tokenizer: "
                        + e.getMessage());
                return;
            }
        }
        Optional<ChatFormat> chat;
        try {
            chat = ChatFormat.of(model);
        } catch (BadInputException e) {
            problems.add(e.getMessage());
            return;
        }
        if (!config.data().prompts().isEmpty()) {
            InputFiles.checkPrompts(Path.of(config.data().prompts()), chat, tokenizer, context, problems);
        }
        if (!config.data().offlinePairs().isEmpty()) {
            InputFiles.checkOfflinePairs(Path.of(config.data().offlinePairs()), chat, tokenizer, context, problems);
        }
    }

    private static LlamaConfig modelConfig(Path dir) {
        String key = "dice.model.dir (--model): " + dir;
        if (!Files.isDirectory(dir)) {
            throw new BadInputException(key + (Files.exists(dir) ? ": is a file, expected a checkpoint directory"
                    : ": no such directory"));
        }
        Path configJson = dir.resolve(Checkpoint.CONFIG_FILE);
        if (!Files.isRegularFile(configJson)) {
            throw new BadInputException(key + ": no " + Checkpoint.CONFIG_FILE + " (expected a Hugging Face checkpoint)");
        }
        try (Stream<Path> files = Files.list(dir)) {
            if (files.noneMatch(f -> f.getFileName().toString().endsWith(".safetensors"))) {
                throw new BadInputException(key + ": no *.safetensors weights");
            }
        } catch (IOException e) {
            throw new BadInputException(key + ": cannot list: " + e.getMessage());
        }
        return LlamaConfig.load(configJson);
    }

    /**
     * A PostgreSQL journal must answer now: a run must not train for minutes and then find no journal. The H2 journal
     * of a resumed run must open: a damaged file is named with what to delete.
     */
    private static void journalReachable(RunConfig config) {
        if (!config.journal().kind().equals("postgres")) {
            h2JournalOpens(Path.of(config.out()).resolve("journal"));
            return;
        }
        DriverManager.setLoginTimeout(10);
        try (Connection c = DriverManager.getConnection(config.journal().url(), config.journal().user(),
                config.journal().password())) {
            c.isValid(10);
        } catch (SQLException e) {
            throw new RunFault("dice.journal.url: cannot reach the journal database " + config.journal().url() + ": "
                    + Faults.root(e).getMessage() + "; start the server or correct dice.journal (nothing was written)", e);
        }
    }

    private static void h2JournalOpens(Path dir) {
        Path file = dir.resolve("replay.mv.db");
        if (!Files.exists(file)) {
            return; // a new run: its journal is created when it starts
        }
        Journal journal = Journal.h2(dir);
        try (Connection c = DriverManager.getConnection(journal.url() + ";IFEXISTS=TRUE", journal.user(),
                journal.password())) {
            c.isValid(10);
        } catch (SQLException e) {
            String cause = e.getErrorCode() == ErrorCode.FILE_CORRUPTED_1 ? "damaged"
                    : "cannot be opened (" + e.getMessage() + ")";
            throw new RunFault(file + ": the journal is " + cause + "; delete " + dir + " and run the same command"
                    + " again (finished stages are kept; the stage in progress is computed anew)", e);
        }
    }

    /**
     * Names the node's metrics and binds their exporter now, so a busy port refuses the run instead of running it
     * without metrics.
     */
    private static void bindMetrics(RunConfig.Metrics metrics) {
        int port = metrics.port();
        String host = metrics.host();
        if (DiceMetrics.name(metrics.node()).serverPort() > 0 || port == 0) {
            return; // off, or this JVM already serves its metrics (an earlier run in the same process)
        }
        try {
            DiceMetrics.get().startServer(host, port);
        } catch (IOException | RuntimeException e) {
            throw new BadInputException("dice.metrics.port (--metrics-port): cannot listen on " + host + ":" + port + ": "
                    + Faults.root(e).getMessage() + " (another process holds it? choose another port, or 0 for none)");
        }
    }
}
