package dev.dice.cli;

import com.typesafe.config.Config;
import dev.dice.coordinator.Summary;
import dev.dice.gpu.BadInputException;
import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code dice local-cluster}: a DICE run across N JVMs on this machine, optionally with a generator or a trainer
 * killed midway.
 */
@Command(name = "local-cluster", mixinStandardHelpOptions = true,
        description = "Run DICE on N cluster nodes, each its own JVM on loopback (node-1: coordinator, replay, trainer,"
                + " scorer; node-2: generator, scorer, trainer and standby coordinator; the others generators, nodes 3"
                + " to --trainers trainers too: each of the run's trainers on its own node), then stop them all."
                + " Node logs: <out>/nodes/.")
final class LocalClusterCommand implements Callable<Integer> {

    @Option(names = "--nodes", defaultValue = "3", description = "Number of JVMs, at least 3 (keep-majority).")
    int nodes;

    @Option(names = "--chaos", description = "kill-generator: SIGKILL the last generator node while it generates its"
            + " first shard of round 1. kill-trainer (--trainers 2 or more): SIGKILL the last trainer node once it has"
            + " taken its first step of round 1's DPO stage.")
    String chaos;

    @Option(names = "--own-dirs", description = "Give each node its own run directory, <out>/nodes/node-i, so that"
            + " nothing is shared on disk: models travel over the cluster; the coordinator's node's directory holds the"
            + " run's results. node-2 stands by for the coordinator, with a copy of its run directory, when the journal"
            + " is PostgreSQL (dice.journal.kind = postgres); with the H2 journal it does not.")
    boolean ownDirs;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws Exception {
        if (nodes < 3) {
            throw new BadInputException("--nodes: expected at least 3 (the split brain resolver keeps the majority), got "
                    + nodes);
        }
        if (chaos != null && !chaos.equals("kill-generator") && !chaos.equals("kill-trainer")) {
            throw new BadInputException("--chaos: unknown chaos '" + chaos + "' (expected kill-generator or kill-trainer)");
        }
        Config root = run.resolve();
        int trainers = Math.max(1, root.getInt("dice.cluster.trainers")); // a cluster reads 0 (per device) as one
        if (trainers > nodes) {
            throw new BadInputException("--trainers: each of the " + trainers + " trainers runs on its own node, but"
                    + " --nodes is " + nodes);
        }
        if ("kill-trainer".equals(chaos) && trainers < 2) {
            throw new BadInputException("--chaos kill-trainer: needs --trainers 2 or more (a ring left with a trainer),"
                    + " got " + trainers);
        }
        LocalCluster.Directories directories = ownDirs ? LocalCluster.Directories.OWN : LocalCluster.Directories.SHARED;
        LocalCluster cluster = new LocalCluster(root, nodes, directories, System.out::println);
        Thread stopAll = new Thread(cluster::close, "local-cluster-stop");
        Runtime.getRuntime().addShutdownHook(stopAll); // Ctrl-C stops every node
        try {
            List<LocalCluster.NodeSpec> layout = LocalCluster.layout(nodes, trainers, directories,
                    root.getString("dice.journal.kind").equals("postgres"));
            layout.forEach(cluster::start);
            // The last trainer node: never node-1, where the coordinator runs.
            LocalCluster.Node victim = chaos == null ? null : cluster.node(chaos.equals("kill-trainer")
                    ? "node-" + Math.max(2, trainers) : layout.get(layout.size() - 1).name());
            if (victim != null) {
                victim.line(chaos.equals("kill-trainer") ? LocalCluster.ROUND1_TRAINING : LocalCluster.ROUND1_GENERATION)
                        .thenAccept(line -> {
                            System.out.println("local-cluster: chaos: SIGKILL " + victim.spec().name() + " (pid "
                                    + victim.pid() + ") after: " + line);
                            victim.kill();
                        });
            }
            boolean ok = awaitRun(cluster, victim);
            if (ok) {
                System.out.print(Summary.print(cluster.runDirectory()));
            }
            return ok ? 0 : 1;
        } finally {
            cluster.close();
            Runtime.getRuntime().removeShutdownHook(stopAll);
        }
    }

    /**
     * Waits until every node has exited: true when all but the chaos victim exited 0 (the run finished). A node that
     * fails, or the loss of every node that can coordinate, stops the others.
     */
    private static boolean awaitRun(LocalCluster cluster, LocalCluster.Node victim) throws InterruptedException {
        while (true) {
            boolean running = false;
            boolean coordinator = false;
            for (LocalCluster.Node node : cluster.nodes()) {
                OptionalInt exit = node.await(Duration.ofMillis(200));
                if (exit.isEmpty()) {
                    running = true;
                    coordinator |= node.spec().roles().contains("coordinator");
                } else if (exit.getAsInt() != 0 && node != victim) {
                    System.out.println("local-cluster: " + node.spec().name() + " exited with " + exit.getAsInt()
                            + "; stopping the others (logs: " + cluster.out().resolve("nodes") + ")");
                    return false;
                }
            }
            if (!running) {
                return true;
            }
            if (!coordinator) {
                System.out.println("local-cluster: no node that can coordinate is left; stopping the others");
                return false;
            }
        }
    }

}
