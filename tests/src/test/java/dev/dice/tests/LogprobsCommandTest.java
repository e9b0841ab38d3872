package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dice.cli.Dice;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dice logprobs} on a release's layout: the ids of a text as the release's tokenizer gives them, and per position
 * the log-probability of the next one, the numbers to set beside transformers' for the same ids.
 */
class LogprobsCommandTest {

    @Test
    void printsTheIdsAndEachNextTokenLogProb(@TempDir Path dir) throws Exception {
        Path model = ReleaseCheckpointsTest.randomModel(dir, "qwen3-0.6b", "qwen3", ",head_dim=32");
        JsonNode text = CliJson.lastLine("logprobs", "--model", model.toString(), "--text", "Hello, world! Bonjour.");
        int n = text.get("tokens").size();
        assertTrue(n >= 4, text.toString());
        assertEquals(n - 1, text.get("next_token_logprobs").size());
        for (JsonNode lp : text.get("next_token_logprobs")) {
            assertTrue(lp.asDouble() < 0 && lp.asDouble() > -40, text.toString());
        }
        // The same ids given as --tokens give the same numbers: the text path adds nothing to the ids.
        StringBuilder ids = new StringBuilder();
        text.get("tokens").forEach(id -> ids.append(ids.length() == 0 ? "" : ",").append(id.asInt()));
        JsonNode tokens = CliJson.lastLine("logprobs", "--model", model.toString(), "--tokens", ids.toString());
        assertEquals(text.get("next_token_logprobs"), tokens.get("next_token_logprobs"));

        StringWriter err = new StringWriter();
        assertEquals(2, Dice.execute(new PrintWriter(err, true), "logprobs", "--model", model.toString(), "--tokens",
                "1,999999"));
        assertTrue(err.toString().contains("--tokens: id 999999 is outside the vocabulary"), err.toString());
    }
}
