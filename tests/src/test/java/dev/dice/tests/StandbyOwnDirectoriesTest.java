package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.cli.LocalCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DICE run (tiny shapes) on three JVMs that share no run directory, with the PostgreSQL journal (the server `.ci/run`
 * starts; skipped without one): node-1 and node-2 both hold the coordinator and replay roles (LocalCluster's layout
 * for own directories and a shared journal), node-3 generates. The node whose coordinator starts first is killed by
 * SIGKILL once round 1 has results in the journal and the other has mirrored the DPO stage: the coordinator moves to
 * the other node, resumes from its copy of the run directory (the finished stages are not run again) and the journal
 * (round 1's results are recovered), and the run's results end up in that node's own directory.
 */
class StandbyOwnDirectoriesTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration RUN = Duration.ofSeconds(300);

    @Test
    void theCoordinatorMovesToANodeWithItsOwnCopyOfTheRunDirectory(@TempDir Path dir) throws Exception {
        String url = System.getenv("DICE_TEST_POSTGRES_URL");
        Assumptions.assumeTrue(url != null && !url.isEmpty(),
                "DICE_TEST_POSTGRES_URL is not set (.ci/run starts a throwaway server)");
        Config config = ConfigFactory.parseMap(Map.of("dice.journal.kind", "postgres", "dice.journal.url", url,
                "dice.journal.user", "postgres")).withFallback(ClusterChaosTest.tiny(dir.resolve("run")));
        String standby;
        Path standbyDir;
        try (LocalCluster cluster = new LocalCluster(config, 3, LocalCluster.Directories.OWN, ClusterChaosTest::echo)) {
            LocalCluster.layout(3, 1, LocalCluster.Directories.OWN, true).forEach(cluster::start);
            LocalCluster.Node coordinator = ClusterChaosTest.firstCoordinator(cluster);
            standby = coordinator.spec().name().equals("node-1") ? "node-2" : "node-1";
            standbyDir = cluster.directoryOf(standby);
            // Killed once round 1 has a result in the journal and the standby holds the DPO stage's files.
            coordinator.line(Pattern.compile("round1: (generated|scored) shard \\d+ stored")).get(RUN.toSeconds(),
                    TimeUnit.SECONDS);
            cluster.node(standby).line(Pattern.compile("run files: dpo/stage\\.json \\(")).get(RUN.toSeconds(),
                    TimeUnit.SECONDS);
            coordinator.kill();
            ClusterChaosTest.assertFinished(cluster, standby, "node-3");

            List<String> log = cluster.node(standby).output();
            for (String stage : List.of("sft", "dpo")) {
                assertTrue(log.stream().anyMatch(l -> l.contains("stage " + stage + ": already finished in "
                        + standbyDir.resolve(stage))), standby + " resumed " + stage + " from its copy");
            }
            assertFalse(Files.exists(cluster.directoryOf(coordinator.spec().name()).resolve("summary.json")));
            assertEquals(standbyDir, cluster.runDirectory());
        }
        String metrics = Files.readString(standbyDir.resolve("metrics.prom"));
        Matcher recovered = Pattern.compile("\ndice_results_recovered_total\\{([^}]*)} (\\S+)").matcher(metrics);
        assertTrue(recovered.find(), "dice_results_recovered_total in metrics.prom");
        assertTrue(Double.parseDouble(recovered.group(2)) > 0, "round 1 resumed from the journal: " + recovered.group());
        JsonNode summary = JSON.readTree(standbyDir.resolve("summary.json").toFile());
        assertEquals(0, summary.get("prompts_lost").asInt());
        assertEquals(0, summary.get("duplicates_in_pairs").asInt());
        assertEquals(List.of("sft", "dpo", "round1"), java.util.stream.StreamSupport.stream(
                summary.get("stages").spliterator(), false).map(s -> s.get("name").asText()).toList());
        ClusterChaosTest.assertRoundComplete(standbyDir.resolve("round1"));
    }
}
