package dev.dice.gpu.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every rendering Hugging Face's own Jinja implementation made of the fixture conversations
 * (tests/fixtures/chat/renderings.json, made by render.mjs) must come out of ChatTemplate byte for byte.
 */
class ChatTemplateFixturesTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TestFactory
    Stream<DynamicTest> everyReferenceRenderingIsReproducedExactly() throws IOException {
        Map<String, ChatTemplate> templates = new HashMap<>();
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode r : renderings()) {
            String name = r.get("template").asText() + " " + r.get("conversation").asText()
                    + " add_generation_prompt=" + r.get("add_generation_prompt").asBoolean();
            tests.add(DynamicTest.dynamicTest(name, () -> {
                ChatTemplate template = templates.computeIfAbsent(r.get("config").asText(), config ->
                        ChatTemplate.fromTokenizerConfig(ChatFixtures.repository().resolve(config),
                                ChatFixtures.FIXTURE_DAY).orElseThrow());
                String rendered = template.render(messages(r.get("messages")),
                        r.get("add_generation_prompt").asBoolean());
                assertEquals(r.get("text").asText(), rendered);
            }));
        }
        return tests.stream();
    }

    /** Guards against a truncated or regenerated fixture file silently checking less. */
    @Test
    void theFixturesCoverEveryTemplateAndConversation() throws IOException {
        Set<String> templates = new TreeSet<>();
        Set<String> conversations = new TreeSet<>();
        int count = 0;
        for (JsonNode r : renderings()) {
            templates.add(r.get("template").asText());
            conversations.add(r.get("conversation").asText());
            count++;
        }
        assertEquals(Set.of("dated", "llama3", "llama3_1", "qwen3", "zephyr"), templates);
        assertEquals(7, conversations.size());
        assertEquals(templates.size() * conversations.size() * 2, count);
    }

    private static JsonNode renderings() throws IOException {
        Path file = ChatFixtures.repository().resolve("tests/fixtures/chat/renderings.json");
        return JSON.readTree(file.toFile()).get("renderings");
    }

    private static List<ChatMessage> messages(JsonNode array) {
        List<ChatMessage> messages = new ArrayList<>();
        for (JsonNode m : array) {
            messages.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        return messages;
    }
}
