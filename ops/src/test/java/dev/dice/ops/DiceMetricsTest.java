package dev.dice.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiceMetricsTest {
    /** The module directory when Maven runs the tests; the repository root otherwise. */
    private static final Path OPS = Files.isDirectory(Path.of("grafana")) ? Path.of(".") : Path.of("ops");
    private static final Pattern METRIC = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)\\s*[{,)\\[]");

    @Test
    void aJvmsMetricsKeepTheNodeNameTheyWereCreatedWith() throws Exception {
        DiceMetrics metrics = DiceMetrics.get();
        assertEquals(metrics, DiceMetrics.name(metrics.node()));
        IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> DiceMetrics.name(metrics.node() + "-other"));
        assertTrue(e.getMessage().contains("dice.metrics.node"), e.getMessage());
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        metrics.writeText(out);
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("node=\"" + metrics.node() + "\""));
    }

    @Test
    void namesFollowPrometheusConventions() {
        Set<String> names = DiceMetrics.get().registeredNames();
        for (String name : names) {
            assertTrue(name.matches("[a-z_][a-z0-9_]*"), name);
            if (name.startsWith("dice_") && !name.endsWith("_info")) {
                assertFalse(name.matches(".*_(ms|milliseconds|kb|mb|minutes)(_total)?"), "base units: " + name);
            }
        }
        for (String expected : List.of("dice_prompts_dispatched_total", "dice_prompts_completed_total",
                "dice_prompts_lost_total", "dice_generated_tokens_total", "dice_scored_sequences_total", "dice_alpha",
                "dice_pair_chosen_length_tokens", "dice_pair_rejected_length_tokens", "dice_pair_reward_margin",
                "dice_replay_buffer_pairs", "dice_train_loss", "dice_train_reward_accuracy", "dice_train_learning_rate",
                "dice_allreduce_bytes_total", "dice_allreduce_seconds_total", "dice_weight_sync_seconds_total",
                "dice_weight_version", "dice_node_role_info", "dice_round", "dice_stage_active",
                "jvm_memory_used_bytes", "process_cpu_seconds_total")) {
            assertTrue(names.contains(expected), "registered: " + expected);
        }
    }

    @Test
    void dashboardParsesAndQueriesOnlyRegisteredMetrics() throws Exception {
        JsonNode dashboard = new ObjectMapper().readTree(OPS.resolve("grafana/dice-dashboard.json").toFile());
        assertEquals("DICE-cluster", dashboard.get("title").asText());
        List<String> variables = new ArrayList<>();
        dashboard.path("templating").path("list").forEach(v -> variables.add(v.path("name").asText()));
        assertTrue(variables.containsAll(List.of("node", "role")), "node and role selectors: " + variables);

        List<String> queries = new ArrayList<>();
        collect(dashboard, queries);
        assertTrue(queries.size() > 30, "queries: " + queries.size());
        Set<String> used = new TreeSet<>();
        for (String q : queries) {
            Matcher m = METRIC.matcher(q);
            while (m.find()) {
                String name = m.group(1);
                if (name.startsWith("dice_") || name.startsWith("jvm_") || name.startsWith("process_")) {
                    used.add(name);
                }
            }
        }
        Set<String> registered = DiceMetrics.get().registeredNames();
        Set<String> unknown = new TreeSet<>(used);
        unknown.removeAll(registered);
        assertTrue(unknown.isEmpty(), "dashboard queries unregistered metrics: " + unknown);
        // Every DICE metric has a panel.
        Set<String> unused = new TreeSet<>();
        for (String name : registered) {
            if (name.startsWith("dice_") && !used.contains(name)) {
                unused.add(name);
            }
        }
        assertTrue(unused.isEmpty(), "DICE metrics without a panel: " + unused);
        // Panels of DICE metrics filter on the selectors.
        for (String q : queries) {
            if (q.contains("dice_") && !q.startsWith("label_values")) {
                assertTrue(q.contains("node=~\"$node\""), "node selector in " + q);
            }
        }
    }

    @Test
    void exporterServesTextFormatOnLoopbackAndFileMatches(@TempDir Path dir) throws Exception {
        DiceMetrics m = DiceMetrics.get();
        m.trainLoss.labelValues("test-stage").set(0.5);
        m.generatedTokens.labelValues("test").inc(7);
        int port = m.startServer(null, 0);
        try {
            HttpResponse<String> response = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, response.statusCode());
            assertTrue(response.body().contains("dice_train_loss{"), response.body());
            assertTrue(response.body().contains("stage=\"test-stage\""));
            assertTrue(response.body().contains("dice_generated_tokens_total{"));
            assertTrue(response.body().contains("jvm_memory_used_bytes{"));
        } finally {
            m.stopServer();
        }
        Path file = dir.resolve("metrics.prom");
        m.writeTo(file);
        String text = Files.readString(file, StandardCharsets.UTF_8);
        assertTrue(text.contains("# TYPE dice_generated_tokens_total counter"), text);
        assertTrue(m.exposedNames().contains("dice_train_loss"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        m.writeText(out);
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("dice_node_role_info{"));
    }

    @Test
    void collectiveRecordersMoveTheirCounters() {
        DiceMetrics m = DiceMetrics.get();
        double bytes = m.allReduceBytes.get();
        m.recordAllReduce(4096, 0.25);
        m.recordWeightSync(3, 0.5);
        assertEquals(bytes + 4096, m.allReduceBytes.get(), 1e-9);
        assertEquals(3.0, m.weightVersion.get(), 0.0);
    }

    private static void collect(JsonNode node, List<String> out) {
        if (node.isObject()) {
            node.fields().forEachRemaining(e -> {
                if ((e.getKey().equals("expr") || e.getKey().equals("definition")) && e.getValue().isTextual()) {
                    out.add(e.getValue().asText());
                } else {
                    collect(e.getValue(), out);
                }
            });
        } else if (node.isArray()) {
            node.forEach(n -> collect(n, out));
        }
    }
}
