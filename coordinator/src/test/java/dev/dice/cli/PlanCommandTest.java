package dev.dice.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code dice plan} on a release's config.json: the table, the JSON last line, refused input. */
class PlanCommandTest {
    private static final Path LLAMA3 = Path.of("../tests/fixtures/releases/llama-3-8b-instruct");

    private static String run(StringWriter err, String... args) {
        PrintStream saved = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = Dice.execute(new PrintWriter(err, true), args);
            return code + "\n" + out.toString(StandardCharsets.UTF_8);
        } finally {
            System.setOut(saved);
        }
    }

    @Test
    void llama3On8x80GiBNeedsZero2AndCheckpointing() throws Exception {
        String out = run(new StringWriter(), "plan", "--model", LLAMA3.toString(), "--trainers", "8",
                "--device-memory", "80GiB");
        String[] lines = out.strip().split("\n");
        assertEquals("0", lines[0]);
        assertTrue(out.contains("optimizer state (AdamW m, v)"), out);
        assertTrue(out.contains("--zero-stage 2 --activation-checkpointing"), out);
        JsonNode json = new ObjectMapper().readTree(lines[lines.length - 1]);
        assertEquals(8_030_261_248L, json.get("parameters").asLong());
        assertEquals(4L * 8_030_261_248L, json.get("trainer").get("weights").asLong());
        assertEquals(false, json.get("trainer_fits").asBoolean());
        assertEquals(2, json.get("trainer_fit").get("zero_stage").asInt());
    }

    @Test
    void refusesAMicroBatchShorterThanOneRow() {
        StringWriter err = new StringWriter();
        String out = run(err, "plan", "--model", LLAMA3.toString(), "--micro-batch-tokens", "100");
        assertTrue(out.startsWith("2\n"), out);
        assertTrue(err.toString().contains("--micro-batch-tokens"), err.toString());
    }
}
