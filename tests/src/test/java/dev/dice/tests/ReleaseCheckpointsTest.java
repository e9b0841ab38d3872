package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.cli.Dice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A user's first run on a released chat model: a directory laid out like the release (its config.json and
 * generation_config.json, the real tokenizer files, bf16 weights in shards with an index; random weights at a small
 * width), own prompts and offline pairs in both shapes, one smoke DICE round through the command line. Responses must
 * end on the model's own end-of-turn token, and the round's model must be the release's layout again.
 */
class ReleaseCheckpointsTest {
    static final Path FIXTURES = Path.of("..", "tests", "fixtures").toAbsolutePath().normalize();
    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "llama-3.1-8b-instruct, llama3_1, <|eot_id|>, ''",
        "qwen3-0.6b, qwen3, <|im_end|>, ',head_dim=32'",
        "zephyr-7b-beta, zephyr, </s>, ''"})
    void smokeRoundOnAReleaseLayout(String release, String tokenizer, String endOfTurn, String extra, @TempDir Path dir)
            throws IOException {
        Path model = randomModel(dir, release, tokenizer, extra);
        Path prompts = Files.write(dir.resolve("prompts.jsonl"), TinyChatData.prompts(40));
        Path pairs = Files.write(dir.resolve("pairs.jsonl"), TinyChatData.offlinePairs(40));
        Path out = dir.resolve("run");
        assertEquals(0, dice("run", "--model", model.toString(), "--tokenizer", model.toString(), "--prompts",
                prompts.toString(), "--offline-pairs", pairs.toString(), "--preset", "smoke", "--rounds", "1",
                "--out", out.toString()));

        int ended = 0;
        for (String line : Files.readAllLines(out.resolve("round1/scored.jsonl"))) {
            JsonNode r = JSON.readTree(line);
            if (r.get("ended_on_eos").asBoolean()) {
                ended++;
                assertTrue(r.get("response").asText().endsWith(endOfTurn), r.toString());
            }
        }
        assertTrue(ended > 0, "no response ended on " + endOfTurn);
        List<String> pairLines = Files.readAllLines(out.resolve("round1/pairs.jsonl"));
        assertTrue(!pairLines.isEmpty(), "no pairs");
        for (String line : pairLines) {
            JsonNode p = JSON.readTree(line);
            assertTrue(p.get("chosen").asText().contains(endOfTurn), p.toString());
        }

        Path saved = out.resolve("round1/model");
        for (String file : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json")) {
            assertArrayEquals(Files.readAllBytes(model.resolve(file)), Files.readAllBytes(saved.resolve(file)), file);
        }
        assertEquals(List.of("BF16"), dtypes(saved.resolve("model.safetensors")));
    }

    /** The release's configuration at a small width, with the release's tokenizer, as `dice random-model` writes it. */
    static Path randomModel(Path dir, String release, String tokenizer, String extra) {
        Path model = dir.resolve(release);
        Path config = FIXTURES.resolve("releases").resolve(release);
        assertEquals(0, dice("random-model", "--config", config.resolve("config.json").toString(),
                "--generation-config", config.resolve("generation_config.json").toString(),
                "--tokenizer", FIXTURES.resolve("tokenizers").resolve(tokenizer).toString(), "--out", model.toString(),
                "--set", "hidden_size=64,intermediate_size=128,num_hidden_layers=2,num_attention_heads=4,"
                        + "num_key_value_heads=2" + extra,
                "--end-turn-every", "8", "--shards", "2"));
        return model;
    }

    static int dice(String... args) {
        StringWriter err = new StringWriter();
        int code = Dice.execute(new PrintWriter(err, true), args);
        System.err.print(err);
        return code;
    }

    private static List<String> dtypes(Path safetensors) throws IOException {
        byte[] bytes = Files.readAllBytes(safetensors);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonNode header = JSON.readTree(new String(bytes, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8));
        List<String> out = new ArrayList<>();
        header.fields().forEachRemaining(e -> {
            if (!e.getKey().equals("__metadata__") && !out.contains(e.getValue().get("dtype").asText())) {
                out.add(e.getValue().get("dtype").asText());
            }
        });
        return out;
    }
}
