package dev.dice.actors;

import com.typesafe.config.Config;
import dev.dice.ops.DiceMetrics;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.cluster.ConfigValidation;
import org.apache.pekko.cluster.Invalid;
import org.apache.pekko.cluster.JoinConfigCompatChecker;
import org.apache.pekko.cluster.Valid$;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Keeps a cluster to one run of one DICE build: Pekko runs this check when a node joins (configured in
 * {@code dice-node.conf}), and a node whose {@code dice.run-id} or {@code dice.version} differs is refused. The
 * cluster's side logs the reason ("Found incompatible settings when [address] tried to join: dice.run-id: ...")
 * and counts the refusal ({@code dice_nodes_refused_total}); the refused node logs that it could not join because of
 * incompatible configuration, and shuts down (reason: incompatible configuration detected).
 */
public final class RunCompatibility extends JoinConfigCompatChecker {
    static final List<String> KEYS = List.of("dice.run-id", "dice.version");

    @Override
    public Seq<String> requiredKeys() {
        return CollectionConverters.asScala(KEYS).toList();
    }

    @Override
    public ConfigValidation check(Config other, Config self) {
        List<String> differences = new ArrayList<>();
        for (String key : KEYS) {
            String theirs = value(other, key);
            String ours = value(self, key);
            if (!theirs.equals(ours)) {
                differences.add(key + ": '" + ours + "' on this node, '" + theirs + "' on the other");
            }
        }
        if (differences.isEmpty()) {
            return Valid$.MODULE$;
        }
        DiceMetrics.get().nodesRefused.inc();
        return new Invalid(CollectionConverters.asScala(differences).toList());
    }

    private static String value(Config config, String key) {
        return config.hasPath(key) ? config.getString(key) : "(not set)";
    }
}
