package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DICE run (tiny shapes) on three JVMs that share no run directory: each has its own below {@code <out>/nodes}.
 * node-1 coordinates and scores but does not train; the run's two trainers are on node-2 and node-3, which also
 * generate. So every checkpoint the coordinator keeps was written by a trainer on another node and fetched, every
 * DPO stage has a trainer without its starting checkpoint, and the workers of node-2 and node-3 take every model
 * over the cluster or from their own directory, never from another node's.
 */
class OwnDirectoriesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> STAGES = List.of("sft", "dpo", "round1");
    /** A worker's log line when it holds a model, and where from (GenerationActor, ScoringActor). */
    private static final Pattern HOLDS = Pattern.compile("(?:generator|scorer) holds policy v(\\d+) \\(sha256 \\w+\\) from (\\S+)");

    @Test
    void nodesWithTheirOwnDirectoriesRunTheWholeRun(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        List<LocalCluster.NodeSpec> layout = List.of(
                new LocalCluster.NodeSpec("node-1", Set.of("coordinator", "replay", "scorer")),
                new LocalCluster.NodeSpec("node-2", Set.of("generator", "scorer", "trainer")),
                new LocalCluster.NodeSpec("node-3", Set.of("generator", "trainer")));
        try (LocalCluster cluster = new LocalCluster(config(out), 3, LocalCluster.Directories.OWN,
                ClusterChaosTest::echo)) {
            layout.forEach(cluster::start);
            ClusterChaosTest.assertFinished(cluster, "node-1", "node-2", "node-3");
            Path run = cluster.runDirectory();
            JsonNode summary = JSON.readTree(run.resolve("summary.json").toFile());
            assertEquals(2, summary.get("trainer_nodes").asInt(), "both trainer JVMs trained");
            List<String> coordinator = cluster.node("node-1").output();
            for (int version = 0; version < STAGES.size(); version++) {
                String stage = STAGES.get(version);
                String fetched = "fetched v" + version + " ";
                assertTrue(coordinator.stream().anyMatch(l -> l.contains(fetched) && l.contains(stage + "/model")),
                        "node-1 fetched " + stage + "'s model into its directory");
                Path written = writtenBy(cluster, stage);
                Map<String, float[]> rank0 = SavedWeights.of(written);
                Map<String, float[]> kept = SavedWeights.of(run.resolve(stage).resolve("model"));
                assertEquals(rank0.keySet(), kept.keySet());
                rank0.forEach((name, w) -> assertArrayEquals(w, kept.get(name), stage + " " + name + " as rank 0 saved it"));
            }
            long trainerFetches = Stream.of("node-2", "node-3").flatMap(n -> cluster.node(n).output().stream())
                    .filter(l -> l.contains("trainer fetched its starting model")).count();
            assertTrue(trainerFetches >= 2, "in each DPO stage one trainer fetched its starting model: " + trainerFetches);
            for (String name : List.of("node-2", "node-3")) {
                Path own = cluster.directoryOf(name);
                int held = 0;
                for (String line : cluster.node(name).output()) {
                    Matcher m = HOLDS.matcher(line);
                    if (m.find()) {
                        held++;
                        String source = m.group(2);
                        assertTrue(source.startsWith("127.0.0.1:") || Path.of(source).startsWith(own),
                                name + " took a model over the cluster or from its own directory: " + line);
                    }
                }
                assertTrue(held > 0, name + "'s workers held models");
                assertFalse(Files.exists(own.resolve("summary.json")), "the results are node-1's");
            }
        }
    }

    /** The model directory of {@code stage} that rank 0 wrote into its own node's run directory. */
    private static Path writtenBy(LocalCluster cluster, String stage) {
        List<Path> found = Stream.of("node-2", "node-3").map(n -> cluster.directoryOf(n).resolve(stage).resolve("model"))
                .filter(p -> Files.exists(p.resolve("config.json"))).toList();
        assertEquals(1, found.size(), stage + ": rank 0 alone wrote the model on a trainer's node: " + found);
        return found.get(0);
    }

    private static Config config(Path out) throws Exception {
        Path file = Path.of(OwnDirectoriesTest.class.getResource("/tiny-cluster.conf").toURI());
        return DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.out", out.toString(), "dice.seed", 13,
                "dice.cluster.trainers", 2, "dice.dpo.lr", 5e-5, "dice.rounds.lr", 5e-5,
                // the run starts once the three nodes are up, so both trainer JVMs train every stage
                "dice.cluster.min-nodes", 3)), file, "smoke");
    }
}
