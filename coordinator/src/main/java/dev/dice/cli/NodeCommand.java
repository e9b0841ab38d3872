package dev.dice.cli;

import com.typesafe.config.Config;
import dev.dice.actors.Nodes;
import dev.dice.coordinator.DiceRun;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code dice node}: one node of a DICE cluster, with the roles it is given, until the run ends. */
@Command(name = "node", mixinStandardHelpOptions = true,
        description = "Start a cluster node with the given roles; it joins through the seed nodes and serves the run in"
                + " --out (the node's own directory, or one the nodes share; models a node lacks arrive over the"
                + " cluster, and the coordinator's node keeps the run's results). Exits 0 when the run has finished, 1"
                + " when it failed.")
final class NodeCommand implements Callable<Integer> {

    @Option(names = "--roles", split = ",", required = true,
            description = "Any of generator, scorer, trainer, coordinator, replay (comma-separated).")
    List<String> roles;

    @Option(names = "--seed-nodes", split = ",",
            description = "HOST:PORT of the seed nodes (the first node lists itself first); or pekko.cluster.seed-nodes,"
                    + " or dice.cluster.bootstrap = kubernetes, in --config.")
    List<String> seedNodes;

    @Option(names = "--port", description = "Port of this node's remoting (default: --config's, else any free port).")
    Integer port;

    @Option(names = "--host", description = "Address this node binds and advertises (default: --config's, else"
            + " 127.0.0.1).")
    String host;

    @Mixin
    RunOptions run;

    @Override
    public Integer call() {
        Config options = run.resolve();
        Config node = Nodes.cluster(host, port, seedNodes, Nodes.parseRoles(roles), options.getString("dice.device"));
        DiceRun.node(node.withFallback(options), Nodes.parseRoles(roles));
        return 0;
    }
}
