package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.StageResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Own prompts and offline pairs (string and chat-message forms): the run goes through without the judge. */
class BringYourOwnDataTest {

    @Test
    void ownPromptsAndOfflinePairsRunWithoutTheJudge(@TempDir Path dir) throws Exception {
        List<String> prompts = new ArrayList<>();
        List<String> pairs = new ArrayList<>();
        String[] words = {"cat", "dog", "sun", "sky", "red", "map", "pen", "cup"};
        for (int i = 0; i < 80; i++) {
            String w = words[i % words.length] + " " + words[(i / 8) % words.length];
            prompts.add("{\"prompt\": \"upper: " + w + "\"}");
            pairs.add(i % 2 == 0
                    ? "{\"prompt\": \"upper: " + w + "\", \"chosen\": \"" + w.toUpperCase() + "\", \"rejected\": \"" + w + "\"}"
                    : "{\"prompt\": \"upper: " + w + "\", \"chosen\": [{\"role\": \"user\", \"content\": \"upper\"},"
                            + " {\"role\": \"assistant\", \"content\": \"" + w.toUpperCase() + "\"}],"
                            + " \"rejected\": [{\"role\": \"assistant\", \"content\": \"" + w + "\"}]}");
        }
        Path promptFile = Files.write(dir.resolve("prompts.jsonl"), prompts);
        Path pairFile = Files.write(dir.resolve("pairs.jsonl"), pairs);
        Path out = dir.resolve("run");
        List<StageResult> stages = DiceRun.run(DiceRun.configure(ConfigFactory.parseMap(Map.of(
                "dice.out", out.toString(), "dice.data.prompts", promptFile.toString(),
                "dice.data.offline-pairs", pairFile.toString(), "dice.sft.steps", 30, "dice.rounds.count", 1)),
                null, "smoke"));
        assertEquals(3, stages.size());
        for (StageResult s : stages) {
            assertNull(s.evaluation().winRate(), "no judge, no win rate");
            assertTrue(s.evaluation().meanLength() > 0);
        }
        assertTrue(stages.get(2).round().selection().alpha() >= 0);
        JsonNode summary = new ObjectMapper().readTree(out.resolve("summary.json").toFile());
        assertTrue(summary.get("judge").asText().startsWith("none"), summary.get("judge").asText());
        assertTrue(Files.size(out.resolve("round1/scored.jsonl")) > 0);
    }
}
