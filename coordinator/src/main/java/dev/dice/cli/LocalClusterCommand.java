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

/** {@code dice local-cluster}: a DICE run across N JVMs on this machine, optionally with a generator killed midway. */
@Command(name = "local-cluster", mixinStandardHelpOptions = true,
        description = "Run DICE on N cluster nodes, each its own JVM on loopback (node-1: coordinator, replay, trainer,"
                + " scorer; node-2: generator, scorer and standby coordinator; the others generators), then stop them"
                + " all. Node logs: <out>/nodes/.")
final class LocalClusterCommand implements Callable<Integer> {

    @Option(names = "--nodes", defaultValue = "3", description = "Number of JVMs, at least 3 (keep-majority).")
    int nodes;

    @Option(names = "--chaos", description = "kill-generator: SIGKILL the last generator node while it generates its"
            + " first shard of round 1.")
    String chaos;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() throws Exception {
        if (nodes < 3) {
            throw new BadInputException("--nodes: expected at least 3 (the split brain resolver keeps the majority), got "
                    + nodes);
        }
        if (chaos != null && !chaos.equals("kill-generator")) {
            throw new BadInputException("--chaos: unknown chaos '" + chaos + "' (expected kill-generator)");
        }
        Config root = run.resolve();
        LocalCluster cluster = new LocalCluster(root, nodes, System.out::println);
        Thread stopAll = new Thread(cluster::close, "local-cluster-stop");
        Runtime.getRuntime().addShutdownHook(stopAll); // Ctrl-C stops every node
        try {
            List<LocalCluster.NodeSpec> layout = LocalCluster.layout(nodes);
            layout.forEach(cluster::start);
            LocalCluster.Node victim = chaos == null ? null : cluster.node(layout.get(layout.size() - 1).name());
            if (victim != null) {
                victim.line(LocalCluster.ROUND1_GENERATION).thenAccept(line -> {
                    System.out.println("local-cluster: chaos: SIGKILL " + victim.spec().name() + " (pid " + victim.pid()
                            + ") while it generates: " + line);
                    victim.kill();
                });
            }
            boolean ok = awaitRun(cluster, victim);
            if (ok) {
                System.out.print(Summary.print(cluster.out()));
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
