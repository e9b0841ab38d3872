package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dice.cli.Dice;
import dev.dice.gpu.LlamaConfig;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dice bench memory} at its smallest: one small model, R = 1 with and without checkpointing and R = 2 under
 * ZeRO stages 0, 1 and 2, every trainer a JVM of its own. The JSON must carry every setting's planned and measured figures per trainer process, and
 * the ratios; what the figures are is the bench's to report, so only their sanity is checked here.
 */
class MemoryBenchTest {

    @Test
    void reportsPlannedAndMeasuredMemoryOfEverySetting(@TempDir Path dir) throws Exception {
        new LlamaConfig(1024, 128, 448, 4, 4, 1, 512, 1e-5, 500000.0, false, 1, 2).save(dir.resolve("config.json"));
        JsonNode out = CliJson.lastLine("bench", "memory", "--model", dir.toString(), "--trainers", "2", "--steps", "2",
                "--pairs", "1", "--positions", "128");
        JsonNode runs = out.get("runs");
        assertEquals(5, runs.size(), out.toString());
        String[] settings = {"1/0/false", "1/0/true", "2/0/false", "2/1/false", "2/2/false"};
        for (int i = 0; i < runs.size(); i++) {
            JsonNode run = runs.get(i);
            assertEquals(settings[i], run.get("trainers").asInt() + "/" + run.get("zero_stage").asInt() + "/"
                    + run.get("checkpointing").asBoolean());
            assertEquals(run.get("trainers").asInt(), run.get("peak_rss_mib").size(), "one figure per trainer process");
            double measured = run.get("measured_peak_mib").asDouble();
            assertTrue(measured > 0 && run.get("planned_peak_mib").asDouble() > 0, run.toString());
            for (JsonNode rss : run.get("peak_rss_mib")) {
                assertTrue(rss.asDouble() > measured + 100, "a JVM with libtorch is larger than its tensors: " + run);
            }
            assertTrue(run.get("measured_activation_mib").asDouble() > 0, run.toString());
            assertTrue(run.get("step_s").asDouble() > 0 && run.get("step_time_ratio").asDouble() > 0, run.toString());
        }
        assertTrue(out.get("plan_max_error").asDouble() >= 0, out.toString());
        double activations = out.get("checkpointing_activation_ratio").asDouble();
        assertTrue(activations > 0 && activations < 1, "checkpointing keeps less: " + out);
        assertTrue(out.get("checkpointing_step_time_ratio").asDouble() > 0, out.toString());
        // Present and positive; not compared with 1: at this size the state (about 50 MiB) is of the order of what the
        // JVM itself grows by between steps (code cache, the ring's buffers: 10-30 MiB).
        for (String zero : new String[] {"zero1_state_ratio_r2", "zero2_state_ratio_r2"}) {
            double ratio = out.get(zero).asDouble();
            assertTrue(ratio > 0 && ratio < 2, zero + ": " + out);
        }

        StringWriter err = new StringWriter();
        assertEquals(2, Dice.execute(new PrintWriter(err, true), "bench", "memory", "--model",
                dir.resolve("missing").toString()));
        assertTrue(err.toString().contains("config.json"), err.toString());
    }
}
