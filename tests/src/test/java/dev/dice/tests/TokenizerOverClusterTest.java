package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.cli.LocalCluster;
import dev.dice.coordinator.DiceRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run of a user's model (a release's tokenizer, random weights at a small width) on three JVMs with their own run
 * directories, where only node-1 can read {@code dice.model.tokenizer}: node-2 and node-3 name a path that does not
 * exist on their "machine", fetch the tokenizer files from node-1 over the cluster, and generate, score and train with
 * them.
 */
class TokenizerOverClusterTest {
    private static final Pattern HOLDS = Pattern.compile("(?:generator|scorer) holds policy v(\\d+) \\(sha256 \\w+\\)");

    @Test
    void nodesThatCannotReadTheTokenizerFetchItAndWork(@TempDir Path dir) throws Exception {
        Path model = ReleaseCheckpointsTest.randomModel(dir, "zephyr-7b-beta", "zephyr", "");
        Path prompts = Files.write(dir.resolve("prompts.jsonl"), TinyChatData.prompts(40));
        Path pairs = Files.write(dir.resolve("pairs.jsonl"), TinyChatData.offlinePairs(40));
        Map<String, String> elsewhere = Map.of("model.tokenizer", dir.resolve("not-on-this-machine").toString());
        List<LocalCluster.NodeSpec> layout = List.of(
                new LocalCluster.NodeSpec("node-1", Set.of("coordinator", "replay", "scorer")),
                new LocalCluster.NodeSpec("node-2", Set.of("generator", "scorer", "trainer"), elsewhere),
                new LocalCluster.NodeSpec("node-3", Set.of("generator", "trainer"), elsewhere));
        try (LocalCluster cluster = new LocalCluster(config(dir.resolve("run"), model, prompts, pairs), 3,
                LocalCluster.Directories.OWN, ClusterChaosTest::echo)) {
            layout.forEach(cluster::start);
            ClusterChaosTest.assertFinished(cluster, "node-1", "node-2", "node-3");
            for (String name : List.of("node-2", "node-3")) {
                Path fetched = cluster.directoryOf(name).resolve("tokenizer");
                for (String file : List.of("tokenizer.json", "tokenizer_config.json")) {
                    assertArrayEquals(Files.readAllBytes(model.resolve(file)), Files.readAllBytes(fetched.resolve(file)),
                            name + " " + file);
                }
                List<String> log = cluster.node(name).output();
                assertTrue(log.stream().anyMatch(l -> l.contains("tokenizer files: not readable here")), name);
                long held = log.stream().map(HOLDS::matcher).filter(Matcher::find).count();
                assertTrue(held > 0, name + "'s workers held models, so they ran with the fetched tokenizer");
            }
        }
    }

    private static Config config(Path out, Path model, Path prompts, Path pairs) throws Exception {
        Path file = Path.of(TokenizerOverClusterTest.class.getResource("/tiny-cluster.conf").toURI());
        return DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.out", out.toString(), "dice.seed", 13,
                "dice.model.dir", model.toString(), "dice.model.tokenizer", model.toString(),
                "dice.data.prompts", prompts.toString(), "dice.data.offline-pairs", pairs.toString(),
                "dice.cluster.trainers", 2, "dice.cluster.min-nodes", 3)), file, "smoke");
    }
}
