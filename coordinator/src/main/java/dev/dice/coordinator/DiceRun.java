package dev.dice.coordinator;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.HfTokenizer;
import dev.dice.gpu.Tokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs DICE end to end on this JVM: every role in a one-node Pekko cluster. */
public final class DiceRun {
    private static final Logger log = LoggerFactory.getLogger(DiceRun.class);

    private DiceRun() {}

    /** Runs (or resumes) the run described by {@code root}'s {@code dice} block; returns its stages. */
    public static List<StageResult> run(Config root) {
        RunConfig config = RunConfig.from(root);
        RunDirectory dir = new RunDirectory(Path.of(config.out()));
        dir.claim(config);
        Journal journal = config.journal().kind().equals("postgres")
                ? Journal.postgres(config.journal().url(), config.journal().user(), config.journal().password())
                : Journal.h2(dir.journal());
        journal.createSchema();
        Config pekko = journal.pekkoConfig().withFallback(withModelThreads(root, config));
        RunPlan plan = new RunPlan(config, dir);
        RunObserver.runStarted(dir.root(), plan.stages(), root.getInt("dice.metrics.port"));
        Tokenizer tokenizer = config.model().tokenizer().isEmpty() ? new ByteTokenizer()
                : HfTokenizer.load(Path.of(config.model().tokenizer()));
        String runId = dir.root().toAbsolutePath().normalize().toString();
        CompletableFuture<List<StageResult>> result = new CompletableFuture<>();
        log.info("run {} (seed {}): stages {}", dir.root(), config.seed(), plan.stages());
        try (NDManager device = NDManager.newBaseManager(Device.fromName(root.getString("dice.device")))) {
            ActorSystem<RunGuardian.Command> system = ActorSystem.create(
                    RunGuardian.create(plan, runId, device, tokenizer, result), "dice", pekko);
            // If the system dies first (a failing guardian), the run must end too, not wait forever.
            system.getWhenTerminated().thenRun(() -> result.completeExceptionally(
                    new IllegalStateException("the actor system stopped before the run finished (see the log above)")));
            try {
                List<StageResult> stages = result.get();
                Summary.write(dir.root(), config, stages);
                RunObserver.runFinished(dir.root()); // metrics.prom and report.html
                return stages;
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                throw cause instanceof RuntimeException r ? r : new IllegalStateException(cause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } finally {
                system.terminate();
                system.getWhenTerminated().toCompletableFuture().join();
            }
        }
    }

    /**
     * Every model worker blocks a thread of the model dispatcher while it works, and the trainers of a ring all work
     * at once (a rank waiting for a thread would stall the others until the ring times out): one thread per worker.
     */
    private static Config withModelThreads(Config root, RunConfig config) {
        String key = "dice.model-dispatcher.thread-pool-executor.fixed-pool-size";
        int workers = config.cluster().generators() + config.cluster().scorers() + config.trainers().count();
        return root.getInt(key) >= workers ? root
                : root.withValue(key, com.typesafe.config.ConfigValueFactory.fromAnyRef(workers));
    }

    /** The configuration: node and library defaults, then {@code preset}, then the user's file, then the command line. */
    public static Config configure(Config overrides, Path file, String preset) {
        Config defaults = Nodes.config(ConfigFactory.empty());
        if (!defaults.hasPath("dice.presets." + preset)) {
            throw new dev.dice.gpu.BadInputException("--preset: unknown preset '" + preset + "' (expected smoke or default)");
        }
        Config presetConfig = defaults.getConfig("dice.presets." + preset).atPath("dice");
        Config user = file == null ? ConfigFactory.empty() : ConfigFactory.parseFile(file.toFile(),
                com.typesafe.config.ConfigParseOptions.defaults().setAllowMissing(false));
        return Nodes.config(overrides.withFallback(user).withFallback(presetConfig));
    }
}
