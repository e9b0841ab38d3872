package dev.dice.coordinator;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Coordination;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.HfTokenizer;
import dev.dice.gpu.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.typed.Cluster;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Runs DICE on this JVM: every role on a one-node Pekko cluster, or the roles of one node of a larger cluster. */
public final class DiceRun {
    private static final Logger log = LoggerFactory.getLogger(DiceRun.class);

    private DiceRun() {}

    /** Runs (or resumes) the run described by {@code root}'s {@code dice} block on this JVM alone; returns its stages. */
    public static List<StageResult> run(Config given) {
        Config root = TrainersPerDevice.resolve(given);
        try (RunLock lock = Preflight.check(root, Nodes.ROLES, true)) {
            RunDirectory dir = start(Nodes.rolesConfig(Nodes.ROLES, root.getString("dice.device")).withFallback(root),
                    Nodes.ROLES, true);
            return RunPlan.stageNames(RunConfig.from(root)).stream().map(dir::result).toList();
        } catch (RunFault | dev.dice.gpu.BadInputException e) {
            throw e;
        } catch (RuntimeException e) {
            throw Faults.classify(e, RunConfig.from(root));
        }
    }

    /**
     * Runs one node of a cluster with {@code roles} ({@code root} holds its cluster settings, see
     * {@link Nodes#cluster}) until the run ends; throws when the run failed or this node's workers did.
     */
    public static void node(Config root, Set<String> roles) {
        try (RunLock lock = Preflight.check(root, roles, false)) {
            start(root, roles, false);
        } catch (RunFault | dev.dice.gpu.BadInputException e) {
            throw e;
        } catch (RuntimeException e) {
            throw Faults.classify(e, RunConfig.from(root));
        }
    }

    private static RunDirectory start(Config root, Set<String> roles, boolean alone) {
        RunConfig config = RunConfig.from(root);
        RunDirectory dir = new RunDirectory(Path.of(config.out()));
        if (roles.contains("coordinator")) {
            dir.claim(config); // a directory of another configuration is refused before anything starts
        }
        Journal journal = config.journal().kind().equals("postgres")
                ? Journal.postgres(config.journal().url(), config.journal().user(), config.journal().password())
                : Journal.h2(dir.journal());
        if (roles.contains("coordinator") || roles.contains("replay")) {
            journal.createSchema();
        }
        // A node of another run is refused when it joins (RunCompatibility); unless given, the run is its directory.
        String given = root.getString("dice.run-id");
        String runId = given.isEmpty() ? dir.root().toAbsolutePath().normalize().toString() : given;
        // The name the run's events carry in the journal. A journal inside the run directory holds one run, so the name
        // need not say where the directory is, and a moved or copied run recovers its events; a shared database needs
        // the run's identity.
        String journalName = !given.isEmpty() || config.journal().kind().equals("postgres") ? runId : "run";
        Config pekko = ConfigFactory.parseMap(Map.of("dice.run-id", runId, "pekko.cluster.min-nr-of-members",
                        config.waits().minNodes())).withFallback(journal.pekkoConfig())
                .withFallback(withModelThreads(root, config, roles, alone));
        RunObserver.runStarted(dir.root(), config.metrics().host());
        // A node without the coordinator role that cannot read the tokenizer fetches it once it joined (NodeGuardian).
        String tokenizerPath = config.model().tokenizer();
        Tokenizer tokenizer = tokenizerPath.isEmpty() ? new ByteTokenizer()
                : Files.exists(Path.of(tokenizerPath)) || roles.contains("coordinator")
                ? tokenizer(config, Path.of(tokenizerPath)) : null;
        CompletableFuture<Coordination.RunEnded> ended = new CompletableFuture<>();
        log.info("run {} (seed {}): stages {}", dir.root(), config.seed(), RunPlan.stageNames(config));
        try (NDManager device = NDManager.newBaseManager(DeviceName.djl(root.getString("dice.device")))) {
            NodeGuardian.Setup setup = new NodeGuardian.Setup(roles, alone, config, dir, journalName, device, tokenizer);
            ActorSystem<NodeGuardian.Command> system = ActorSystem.create(NodeGuardian.create(setup, ended), Nodes.SYSTEM,
                    pekko);
            // If the system dies first (a failing guardian), the run must end too, not wait forever.
            system.getWhenTerminated().thenRun(() -> ended.completeExceptionally(
                    new IllegalStateException("the actor system stopped before the run finished (see the log above)")));
            try {
                log.info("{}", ended.get().message());
                return dir;
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                throw Faults.classify(cause, config);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } finally {
                if (!alone) {
                    leaveLastIfOldest(system);
                }
                system.terminate(); // a cluster node leaves the cluster first (coordinated shutdown)
                system.getWhenTerminated().toCompletableFuture().join();
            }
        }
    }

    /** The user's tokenizer from {@code dirOrFile}, with its chat template when the run renders prompts with it. */
    static Tokenizer tokenizer(RunConfig config, Path dirOrFile) {
        HfTokenizer loaded = HfTokenizer.load(dirOrFile);
        return config.model().chatTemplate() ? loaded : loaded.withoutChatTemplate();
    }

    /**
     * Every model worker blocks a thread of the model dispatcher while it works, and the trainers of a ring all work
     * at once (a rank waiting for a thread would stall the others until the ring times out): one thread per worker.
     */
    private static Config withModelThreads(Config root, RunConfig config, Set<String> roles, boolean alone) {
        String key = "dice.model-dispatcher.thread-pool-executor.fixed-pool-size";
        boolean gpu = DeviceName.djl(root.getString("dice.device")).isGpu();
        int workers = (roles.contains("generator") ? config.cluster().generatorsOn(gpu) : 0)
                + (roles.contains("scorer") ? config.cluster().scorersOn(gpu) : 0)
                + (roles.contains("trainer") ? NodeGuardian.trainersOffered(alone, config) : 0);
        return root.getInt(key) >= workers ? root
                : root.withValue(key, com.typesafe.config.ConfigValueFactory.fromAnyRef(workers));
    }

    /**
     * When every node leaves at the end of a run, the oldest (the cluster's leader) waits until the others are gone
     * (at most 10 s): a leader that leaves among them can be left waiting for a removal no one performs.
     */
    private static void leaveLastIfOldest(ActorSystem<?> system) {
        Cluster cluster = Cluster.get(system);
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < deadline) {
            Member self = cluster.selfMember();
            boolean others = false;
            for (Member m : cluster.state().getMembers()) {
                if (m.equals(self) || cluster.state().getUnreachable().contains(m)) {
                    continue;
                }
                if (m.isOlderThan(self)) {
                    return;
                }
                others = true;
            }
            if (!others) {
                return;
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    /** The configuration: node and library defaults, then {@code preset}, then the user's file, then the command line. */
    public static Config configure(Config overrides, Path file, String preset) {
        Config defaults = Nodes.config(ConfigFactory.empty());
        if (!defaults.hasPath("dice.presets." + preset)) {
            throw new dev.dice.gpu.BadInputException("--preset: unknown preset '" + preset + "' (expected smoke or default)");
        }
        Config presetConfig = defaults.getConfig("dice.presets." + preset).atPath("dice");
        if (file != null && !java.nio.file.Files.isRegularFile(file)) {
            throw new dev.dice.gpu.BadInputException("--config: " + file + ": "
                    + (java.nio.file.Files.isDirectory(file) ? "is a directory, expected a HOCON file" : "no such file"));
        }
        try {
            Config user = file == null ? ConfigFactory.empty() : ConfigFactory.parseFile(file.toFile(),
                    com.typesafe.config.ConfigParseOptions.defaults().setAllowMissing(false));
            return Nodes.config(overrides.withFallback(user).withFallback(presetConfig));
        } catch (com.typesafe.config.ConfigException e) {
            throw new dev.dice.gpu.BadInputException("--config: " + e.getMessage(), e);
        }
    }
}
