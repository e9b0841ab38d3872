package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import dev.dice.algo.Pair;
import dev.dice.algo.PairSelection;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.StageResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dice run --preset smoke} end to end in this JVM — real model, real actors, real H2 journal — then
 * the round files are re-checked independently: α* and every pair are recomputed from scored.jsonl.
 */
class EndToEndSmokeTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void smokeRunProducesEveryStageAndCheckableRoundFiles(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        // serialize-messages: every message a run sends goes through its wire format, as if it crossed nodes.
        List<StageResult> stages = DiceRun.run(DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.out", out.toString(),
                "dice.seed", 3, "pekko.actor.serialize-messages", "on")), null, "smoke"));
        assertEquals(List.of("sft", "dpo", "round1", "round2"), stages.stream().map(StageResult::name).toList());

        JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
        JsonNode rows = summary.get("stages");
        assertEquals(4, rows.size());
        for (JsonNode row : rows) {
            for (String field : List.of("name", "win_rate", "lc_win_rate", "quality", "mean_length", "alpha",
                    "reward_agreement", "pair_accuracy")) {
                assertTrue(row.has(field), row.get("name") + " lacks " + field);
            }
            double win = row.get("win_rate").asDouble();
            assertTrue(win > 0 && win < 1, "win rate " + win);
            // The stage's CPU in this JVM, a share of all cores (the run is all in this JVM).
            double cpu = row.get("cpu_utilization").asDouble();
            assertTrue(row.get("cpu_utilization").isNumber() && cpu > 0 && cpu <= 1.05, row.get("name") + " cpu " + cpu);
            assertTrue(row.get("cpu_seconds").asDouble() > 0, row.get("name") + " cpu seconds");
        }
        assertTrue(rows.get(0).get("alpha").isNull(), "sft has no alpha");
        assertTrue(rows.get(1).get("reward_agreement").isNumber(), "dpo has an implicit reward");
        assertTrue(rows.get(2).get("pair_accuracy").isNumber());

        for (int t = 1; t <= 2; t++) {
            Path round = out.resolve("round" + t);
            List<JsonNode> scored = lines(round.resolve("scored.jsonl"));
            List<JsonNode> pairs = lines(round.resolve("pairs.jsonl"));
            assertEquals(48 * 4, scored.size(), "K = 4 samples for each of 48 prompts");
            List<Candidate> candidates = new ArrayList<>();
            for (JsonNode s : scored) {
                for (String field : List.of("prompt_id", "response", "tokens", "chars", "logp_policy", "logp_ref", "valid")) {
                    assertTrue(s.has(field), "scored.jsonl lacks " + field);
                }
                candidates.add(new Candidate(s.get("prompt_id").asText(), s.get("sample").asInt(),
                        s.get("logp_policy").asDouble(), s.get("logp_ref").asDouble(), s.get("tokens").asInt(),
                        s.get("valid").asBoolean()));
            }
            AlphaSearch.Result search = AlphaSearch.search(candidates, PairSelection.minValidFor(4));
            assertEquals(search.alpha(), rows.get(t + 1).get("alpha").asDouble(), 1e-12, "round " + t + " alpha");
            List<Pair> expected = PairSelection.select(candidates, search.alpha(), PairSelection.minValidFor(4));
            assertEquals(expected.size(), pairs.size());
            for (int i = 0; i < pairs.size(); i++) {
                assertEquals(expected.get(i).promptId(), pairs.get(i).get("prompt_id").asText());
                assertEquals(expected.get(i).chosen().sample(), pairs.get(i).get("chosen_sample").asInt());
                assertEquals(expected.get(i).rejected().sample(), pairs.get(i).get("rejected_sample").asInt());
            }
        }

        // Re-running the same directory skips every finished stage (no model is written again) and reports the same rows.
        List<java.nio.file.attribute.FileTime> written = modelTimes(out);
        List<StageResult> again = DiceRun.run(DiceRun.configure(
                ConfigFactory.parseMap(Map.of("dice.out", out.toString(), "dice.seed", 3)), null, "smoke"));
        assertEquals(stages, again);
        assertEquals(written, modelTimes(out), "a finished run resumes without retraining");
        assertTrue(Files.exists(out.resolve("journal/replay.mv.db")), "the H2 journal lives in the run");
        assertNull(again.get(0).number("alpha"));
    }

    private static List<java.nio.file.attribute.FileTime> modelTimes(Path run) throws Exception {
        List<java.nio.file.attribute.FileTime> times = new ArrayList<>();
        for (String stage : List.of("sft", "dpo", "round1", "round2")) {
            times.add(Files.getLastModifiedTime(run.resolve(stage).resolve("model/model.safetensors")));
        }
        return times;
    }

    private static List<JsonNode> lines(Path file) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            out.add(JSON.readTree(line));
        }
        return out;
    }
}
