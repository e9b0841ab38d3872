package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.ops.DiceMetrics;
import dev.dice.report.RunReport;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One smoke run (shared by the tests of this class) with the metrics exporter on: the DICE metrics exist, the
 * counters moved, the exporter serves them on 127.0.0.1, and the end-of-run files (metrics.prom, report.html) hold
 * what they should.
 */
class ObservabilitySmokeTest {
    @TempDir
    static Path dir;
    static Path run;
    static int port;
    static Map<String, Double> before;
    static Map<String, Double> after;
    static String scraped;

    @BeforeAll
    static void smokeRun() throws Exception {
        port = FreePorts.loopback();
        before = totals();
        run = dir.resolve("run");
        // One trainer: no all-reduce moves bytes (PerCoreTrainersTest counts a ring's).
        DiceRun.run(DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.out", run.toString(), "dice.seed", 5,
                "dice.metrics.port", port, "dice.cluster.trainers", 1)), null, "smoke"));
        after = totals();
        // The exporter started with the run (dice.metrics.port) and outlives it until the JVM ends.
        scraped = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        // What RunObserver.runFinished(runDir) does at the end of a run once DiceRun calls it.
        DiceMetrics.get().writeTo(run.resolve("metrics.prom"));
        RunReport.write(run);
    }

    @AfterAll
    static void stopExporter() {
        DiceMetrics.get().stopServer();
    }

    @Test
    void countersMoved() {
        for (String counter : List.of("dice_prompts_dispatched_total", "dice_prompts_completed_total",
                "dice_generated_tokens_total", "dice_generated_responses_total", "dice_scored_sequences_total",
                "dice_shards_completed_total", "dice_train_steps_total", "dice_stages_completed_total")) {
            assertTrue(after.getOrDefault(counter, 0.0) > before.getOrDefault(counter, 0.0),
                    counter + " moved: " + before.get(counter) + " -> " + after.get(counter));
        }
        assertEquals(before.getOrDefault("dice_stages_completed_total", 0.0) + 4, after.get("dice_stages_completed_total"));
        // 2 rounds × 48 prompts, K = 4.
        assertTrue(after.get("dice_prompts_completed_total") - before.getOrDefault("dice_prompts_completed_total", 0.0) >= 96);
        assertEquals(0.0, after.getOrDefault("dice_prompts_lost_total", 0.0), "nothing is lost on one node");
        assertEquals(0.0, after.getOrDefault("dice_allreduce_bytes_total", 0.0), "no all-reduce with one trainer");
    }

    @Test
    void everyDiceMetricTheRunProducesIsExposedOverHttp() {
        for (String name : List.of("dice_stage_active", "dice_round", "dice_alpha", "dice_pair_chosen_length_tokens",
                "dice_pair_rejected_length_tokens", "dice_pair_length_gap_tokens", "dice_pair_reward_margin",
                "dice_replay_buffer_pairs", "dice_replay_round_pairs", "dice_train_loss", "dice_train_reward_accuracy",
                "dice_train_learning_rate", "dice_train_reward_margin", "dice_eval_win_rate", "dice_eval_lc_win_rate",
                "dice_node_role_info", "dice_weight_version", "jvm_memory_used_bytes", "process_cpu_seconds_total")) {
            assertTrue(scraped.contains("\n" + name + "{"), name + " exposed at http://127.0.0.1:" + port + "/metrics");
        }
        assertTrue(scraped.contains("dice_train_loss{node=") && scraped.contains("stage=\"round2\""), "labels");
        assertTrue(scraped.contains("role=\"trainer\""));
        // Every DICE metric the dashboard may query has a sample once a run has gone through all its stages.
        for (String name : DiceMetrics.get().registeredNames()) {
            if (name.startsWith("dice_")) {
                assertTrue(scraped.contains("\n" + name + "{"), name + " has a sample after a run");
            }
        }
    }

    @Test
    void metricsFileIsTextExposition() throws Exception {
        String text = Files.readString(run.resolve("metrics.prom"), StandardCharsets.UTF_8);
        assertTrue(text.contains("# TYPE dice_generated_tokens_total counter"));
        assertTrue(text.contains("# TYPE dice_train_loss gauge"));
        assertTrue(text.contains("dice_replay_buffer_pairs{"));
    }

    @Test
    void reportHoldsEveryChart() throws Exception {
        String html = Files.readString(run.resolve("report.html"), StandardCharsets.UTF_8);
        for (String id : List.of("win-rates", "lengths", "hist-round1-alpha0", "hist-round1-alphastar",
                "alpha-curve-round1", "hist-round2-alpha0", "hist-round2-alphastar", "alpha-curve-round2", "dpo-loss",
                "reward-accuracy")) {
            Matcher m = Pattern.compile("<img data-chart=\"" + Pattern.quote(id)
                    + "\" alt=\"[^\"]+\" title=\"[^\"]+\" src=\"data:image/png;base64,[A-Za-z0-9+/=]{1000,}\">").matcher(html);
            assertTrue(m.find(), "chart " + id);
        }
    }

    /** Each metric's sum over its series, from the registry's text exposition. */
    static Map<String, Double> totals() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        DiceMetrics.get().writeText(out);
        Map<String, Double> sums = new HashMap<>();
        for (String line : out.toString(StandardCharsets.UTF_8).split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int brace = line.indexOf('{');
            int space = line.lastIndexOf(' ');
            String name = line.substring(0, brace > 0 ? brace : line.indexOf(' '));
            sums.merge(name, Double.parseDouble(line.substring(space + 1)), Double::sum);
        }
        return sums;
    }
}
