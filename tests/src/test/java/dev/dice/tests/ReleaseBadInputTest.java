package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dice.cli.Dice;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A release the runtime cannot run as released is refused before any work, with one line naming file and field. */
class ReleaseBadInputTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static Path release;

    @BeforeAll
    static void zephyr() {
        release = ReleaseCheckpointsTest.randomModel(dir, "zephyr-7b-beta", "zephyr", "");
    }

    @Test
    void anotherArchitecture() throws IOException {
        Path model = variant("gpt2", "config.json", c -> c.putArray("architectures").add("GPT2LMHeadModel"));
        refused(model, List.of(), "config.json: field 'architectures' is [\"GPT2LMHeadModel\"]; supported:");
    }

    @Test
    void anotherRopeType() throws IOException {
        Path model = variant("yarn", "config.json", c -> c.putObject("rope_scaling").put("rope_type", "yarn")
                .put("factor", 4.0));
        refused(model, List.of(), "config.json: field 'rope_scaling.rope_type' is \"yarn\"; supported: llama3, linear");
    }

    @Test
    void aTemplateThatRaises() throws IOException {
        Path model = variant("raises", "tokenizer_config.json",
                c -> c.put("chat_template", "{{ raise_exception('Conversation roles must alternate') }}"));
        refused(model, List.of(), "tokenizer_config.json: field 'chat_template'");
    }

    @Test
    void chatMessagesWithoutATemplate() throws IOException {
        Path model = variant("no-template", "tokenizer_config.json", c -> c.remove("chat_template"));
        refused(model, List.of("{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}"),
                "prompts.jsonl:1: field 'messages' holds chat messages, which need a chat template");
    }

    /** The zephyr release with one JSON file edited. */
    private static Path variant(String name, String file, Consumer<ObjectNode> edit) throws IOException {
        Path model = dir.resolve(name);
        Files.createDirectories(model);
        try (var files = Files.list(release)) {
            for (Path f : files.toList()) {
                Files.copy(f, model.resolve(f.getFileName()));
            }
        }
        ObjectNode json = (ObjectNode) JSON.readTree(model.resolve(file).toFile());
        edit.accept(json);
        Files.write(model.resolve(file), JSON.writeValueAsBytes(json));
        return model;
    }

    private static void refused(Path model, List<String> promptLines, String expected) throws IOException {
        Path prompts = Files.write(model.resolve("prompts.jsonl"),
                promptLines.isEmpty() ? TinyChatData.prompts(10).subList(1, 3) : promptLines);
        Path pairs = Files.write(model.resolve("pairs.jsonl"), TinyChatData.offlinePairs(4).subList(1, 2));
        StringWriter err = new StringWriter();
        int code = Dice.execute(new PrintWriter(err, true), "run", "--model", model.toString(), "--tokenizer",
                model.toString(), "--prompts", prompts.toString(), "--offline-pairs", pairs.toString(), "--preset",
                "smoke", "--out", model.resolve("run").toString());
        String text = err.toString().strip();
        assertEquals(2, code, text);
        assertEquals(1, text.lines().count(), "one line: " + text);
        assertTrue(text.contains(expected), text);
    }
}
