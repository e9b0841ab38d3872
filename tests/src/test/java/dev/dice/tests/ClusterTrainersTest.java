package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.dice.cli.LocalCluster;
import dev.dice.coordinator.DiceRun;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DICE run (tiny shapes) on three JVMs with its two trainers on two of them (node-1, which also coordinates, and
 * node-2), so every training stage's ring all-reduces over gRPC between processes. node-2 is SIGKILLed once it has
 * taken its first step of round 1's DPO stage: the ring re-forms on node-1 and the stage finishes. The same stages
 * trained again in this JVM by one trainer, from the same models on the same data, give the same weights.
 */
class ClusterTrainersTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration RUN = Duration.ofSeconds(300);

    @Test
    void twoTrainerJvmsTrainLikeOneAndARingThatLosesOneFinishesTheStage(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        // The run starts once the three nodes are up, so a trainer JVM that started late cannot miss the first stages'
        // rings; node-1 alone may coordinate (the nodes become members together, so any candidate could be the oldest).
        Config nodes = config(out, 2).withValue("dice.cluster.min-nodes", ConfigValueFactory.fromAnyRef(3));
        try (LocalCluster cluster = new LocalCluster(nodes, 3, ClusterChaosTest::echo)) {
            List.of(new LocalCluster.NodeSpec("node-1", Set.of("coordinator", "replay", "trainer", "scorer")),
                    new LocalCluster.NodeSpec("node-2", Set.of("generator", "scorer", "trainer")),
                    new LocalCluster.NodeSpec("node-3", Set.of("generator"))).forEach(cluster::start);
            LocalCluster.Node coordinator = cluster.node("node-1");
            LocalCluster.Node victim = cluster.node("node-2");
            // Every node must be a member before one dies (a node joining through a dead seed never joins).
            for (String name : List.of("node-2", "node-3")) {
                coordinator.line(Pattern.compile("node \\S+:" + cluster.node(name).port() + " is up"))
                        .get(RUN.toSeconds(), TimeUnit.SECONDS);
            }
            victim.line(LocalCluster.ROUND1_TRAINING).get(RUN.toSeconds(), TimeUnit.SECONDS);
            victim.kill();
            ClusterChaosTest.assertFinished(cluster, "node-1", "node-3");
            // the reason may span lines (a transport error's own message does)
            assertTrue(coordinator.output().stream().anyMatch(l -> l.contains("round1: ring round1-ring1 failed (")),
                    "round 1's ring failed");
            assertTrue(coordinator.output().stream().anyMatch(l -> l.contains("re-forming it with 1 trainer(s), resuming"
                    + " from sync step")), "round 1's ring re-formed");
        }
        JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
        assertEquals(2, summary.get("trainer_nodes").asInt(), "trainers of two JVMs trained");
        assertEquals(1, summary.get("ring_reforms").asInt());
        assertTrue(summary.get("train_steps_replayed").asInt() >= 0);
        for (JsonNode stage : summary.get("stages")) {
            JsonNode facts = stage.get("cluster");
            assertEquals(2, facts.get("trainer_nodes").size(), stage.get("name").asText() + " trained on both JVMs");
            assertEquals(stage.get("name").asText().equals("round1") ? 1 : 0, facts.get("ring_reforms").asInt());
        }

        // One trainer, this JVM: DPO on D_off from the cluster's π0, then round 1 from it on the round's stored pairs
        // (the journal holds the round's scored shards and the replay buffer its training set).
        Path cluster = dir.resolve("cluster-models");
        Files.createDirectories(cluster);
        for (String stage : List.of("dpo", "round1")) {
            Files.move(out.resolve(stage).resolve("model"), cluster.resolve(stage));
            Files.delete(out.resolve(stage).resolve("stage.json"));
        }
        DiceRun.run(config(out, 1));
        assertClose("dpo (2 trainer JVMs vs 1 trainer)", SavedWeights.of(out.resolve("sft/model")),
                SavedWeights.of(cluster.resolve("dpo")), SavedWeights.of(out.resolve("dpo/model")));
        assertClose("round1 (a trainer JVM killed mid-stage vs 1 trainer)", SavedWeights.of(cluster.resolve("dpo")),
                SavedWeights.of(cluster.resolve("round1")), SavedWeights.of(out.resolve("round1/model")));
    }

    /**
     * The tiny run with {@code trainers} trainers; round 1's DPO stage long enough to be killed in (12 steps, weights
     * checked every 3), and DPO learning rates that move the weights well beyond the tolerance.
     */
    private static Config config(Path out, int trainers) throws Exception {
        Path file = Path.of(ClusterTrainersTest.class.getResource("/tiny-cluster.conf").toURI());
        Map<String, Object> overrides = new java.util.HashMap<>(Map.of("dice.out", out.toString(), "dice.seed", 13,
                "dice.cluster.trainers", trainers, "dice.cluster.weight-check-every", 3, "dice.rounds.steps", 12));
        overrides.putAll(Map.of("dice.dpo.lr", 5e-5, "dice.dpo.warmup", 1, "dice.rounds.lr", 5e-5, "dice.rounds.warmup", 1));
        return DiceRun.configure(ConfigFactory.parseMap(overrides), file, "smoke");
    }

    /** {@code got} is within 1e-5 of {@code expected} everywhere, and training moved the weights well beyond that. */
    private static void assertClose(String what, Map<String, float[]> start, Map<String, float[]> got,
            Map<String, float[]> expected) {
        double maxDiff = 0;
        double maxMove = 0;
        for (String name : expected.keySet()) {
            for (int i = 0; i < expected.get(name).length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(expected.get(name)[i] - got.get(name)[i]));
                maxMove = Math.max(maxMove, Math.abs(expected.get(name)[i] - start.get(name)[i]));
            }
        }
        System.out.printf("%s: max |Δw| = %.3g (the stage moved the weights up to %.3g)%n", what, maxDiff, maxMove);
        assertTrue(maxMove > 1e-5, what + ": the stage moved the weights (" + maxMove + ")");
        assertTrue(maxDiff < 1e-5 && maxDiff < maxMove / 10, what + ": max |Δw| = " + maxDiff);
    }
}
