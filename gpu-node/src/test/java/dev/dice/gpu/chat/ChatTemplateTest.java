package dev.dice.gpu.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.gpu.BadInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplateTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final List<ChatMessage> CONVERSATION = List.of(
            new ChatMessage("system", "Answer briefly."),
            new ChatMessage("user", "Capital of France?"),
            new ChatMessage("assistant", "Paris."),
            new ChatMessage("user", "And of Italy?"),
            new ChatMessage("assistant", "Rome."));

    @TempDir
    Path dir;

    private Path config(Map<String, Object> fields) throws IOException {
        Path file = dir.resolve("tokenizer_config.json");
        Files.writeString(file, JSON.writeValueAsString(fields));
        return file;
    }

    private static void assertOneLine(String message) {
        assertFalse(message.contains("\n"), message);
    }

    @Test
    void splitCutsTheLastAssistantTurnAsTrlDoes() {
        ChatTemplate llama = ChatTemplate.fromTokenizerConfig(ChatFixtures.tokenizerConfig("llama3_1")).orElseThrow();
        ChatTemplate.PromptResponse split = llama.split(CONVERSATION);
        assertEquals("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nAnswer briefly.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nCapital of France?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>"
                + "<|start_header_id|>user<|end_header_id|>\n\nAnd of Italy?<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n", split.prompt());
        assertEquals("Rome.<|eot_id|>", split.response());
        assertEquals(llama.render(CONVERSATION, false), split.prompt() + split.response());

        // Qwen3 renders an empty thinking block into the turn after the last user query.
        ChatTemplate qwen = ChatTemplate.fromTokenizerConfig(ChatFixtures.tokenizerConfig("qwen3")).orElseThrow();
        ChatTemplate.PromptResponse qwenSplit = qwen.split(CONVERSATION);
        assertTrue(qwenSplit.prompt().endsWith("<|im_start|>user\nAnd of Italy?<|im_end|>\n<|im_start|>assistant\n"),
                qwenSplit.prompt());
        assertEquals("<think>\n\n</think>\n\nRome.<|im_end|>\n", qwenSplit.response());
    }

    @Test
    void splitRefusesAConversationNotEndingWithTheAssistant() {
        ChatTemplate zephyr = ChatTemplate.fromTokenizerConfig(ChatFixtures.tokenizerConfig("zephyr")).orElseThrow();
        BadInputException e = assertThrows(BadInputException.class,
                () -> zephyr.split(CONVERSATION.subList(0, 4)));
        assertEquals("split: the last message has role 'user'; it must be 'assistant', the response", e.getMessage());
        assertThrows(BadInputException.class, () -> zephyr.split(List.of()));
    }

    @Test
    void splitRefusesATemplateWhosePromptIsNotAPrefixOfTheConversation() throws IOException {
        Path file = config(Map.of("chat_template",
                "{% for m in messages %}{{ m.content }};{% endfor %}{% if add_generation_prompt %}<gen>{% endif %}"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(file).orElseThrow();
        BadInputException e = assertThrows(BadInputException.class, () -> template.split(CONVERSATION));
        assertTrue(e.getMessage().startsWith(file + ": field 'chat_template': the rendering of the whole conversation"
                + " does not start with the rendering of its prompt"), e.getMessage());
        assertOneLine(e.getMessage());
    }

    @Test
    void aListOfNamedTemplatesUsesTheOneNamedDefault() throws IOException {
        Path file = config(Map.of(
                "chat_template", List.of(
                        Map.of("name", "tool_use", "template", "TOOLS {{ messages|length }}"),
                        Map.of("name", "default", "template", "{{ bos_token }}{% for m in messages %}"
                                + "[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}")),
                "bos_token", Map.of("content", "<B>", "lstrip", false, "special", true),
                "eos_token", "<E>"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(file).orElseThrow();
        assertEquals("<B>[user] hi<E>", template.render(List.of(new ChatMessage("user", "hi")), false));
    }

    @Test
    void aListWithoutDefaultIsRefusedNamingTheNamesFound() throws IOException {
        Path file = config(Map.of("chat_template", List.of(
                Map.of("name", "tool_use", "template", "a"), Map.of("name", "rag", "template", "b"))));
        BadInputException e = assertThrows(BadInputException.class, () -> ChatTemplate.fromTokenizerConfig(file));
        assertEquals(file + ": field 'chat_template': a list of named templates with none named 'default'"
                + " (names found: tool_use, rag)", e.getMessage());
    }

    @Test
    void raiseExceptionGivesOneLineWithTheTemplatesMessage() throws IOException {
        Path file = config(Map.of("chat_template",
                "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                        + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                        + "{% endif %}{{ message['content'] }}{% endfor %}"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(file).orElseThrow();
        assertEquals("ab", template.render(List.of(new ChatMessage("user", "a"), new ChatMessage("assistant", "b")),
                false));
        BadInputException e = assertThrows(BadInputException.class,
                () -> template.render(List.of(new ChatMessage("assistant", "b")), false));
        assertEquals(file + ": field 'chat_template': the template raised: "
                + "Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
    }

    @Test
    void aFileWithoutChatTemplateGivesEmpty() throws IOException {
        assertTrue(ChatTemplate.fromTokenizerConfig(config(Map.of("bos_token", "<s>"))).isEmpty());
        Path nullTemplate = dir.resolve("null.json");
        Files.writeString(nullTemplate, "{\"chat_template\": null, \"eos_token\": \"</s>\"}");
        assertTrue(ChatTemplate.fromTokenizerConfig(nullTemplate).isEmpty());
    }

    @Test
    void aMalformedTemplateIsRefusedNamingFileAndField() throws IOException {
        Path unclosed = config(Map.of("chat_template", "{% for m in messages %}{{ m.content }}"));
        BadInputException e = assertThrows(BadInputException.class, () -> ChatTemplate.fromTokenizerConfig(unclosed));
        assertTrue(e.getMessage().startsWith(unclosed + ": field 'chat_template': line 1: "), e.getMessage());
        assertTrue(e.getMessage().contains("endfor"), e.getMessage());
        assertOneLine(e.getMessage());

        // Jinjava parses expressions when it evaluates them: a broken one is refused by the first render.
        Path broken = config(Map.of("chat_template", "{{ 'a' + }}"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(broken).orElseThrow();
        BadInputException r = assertThrows(BadInputException.class, () -> template.render(List.of(), false));
        assertTrue(r.getMessage().startsWith(broken + ": field 'chat_template': line 1: "), r.getMessage());
        assertOneLine(r.getMessage());
    }

    @Test
    void malformedFieldsAreRefusedNamingThem() throws IOException {
        Path number = config(Map.of("chat_template", 42));
        BadInputException e = assertThrows(BadInputException.class, () -> ChatTemplate.fromTokenizerConfig(number));
        assertEquals(number + ": field 'chat_template': expected a string or a list of "
                + "{\"name\": ..., \"template\": ...}, found number", e.getMessage());

        Path badToken = config(Map.of("chat_template", "x", "eos_token", List.of("</s>")));
        BadInputException t = assertThrows(BadInputException.class, () -> ChatTemplate.fromTokenizerConfig(badToken));
        assertEquals(badToken + ": field 'eos_token': expected a string or an object with a string 'content', "
                + "found array", t.getMessage());

        Path badEntry = config(Map.of("chat_template", List.of(Map.of("name", "default"))));
        BadInputException l = assertThrows(BadInputException.class, () -> ChatTemplate.fromTokenizerConfig(badEntry));
        assertTrue(l.getMessage().startsWith(badEntry + ": field 'chat_template[0]': expected"), l.getMessage());

        Path notJson = dir.resolve("broken.json");
        Files.writeString(notJson, "{\"chat_template\": ");
        BadInputException j = assertThrows(BadInputException.class, () -> ChatTemplate.fromTokenizerConfig(notJson));
        assertTrue(j.getMessage().startsWith(notJson + ": not valid JSON"), j.getMessage());
        assertOneLine(j.getMessage());
    }

    /** Python's str methods, with Python's semantics where Hugging Face's JS renderer differs (strip's argument). */
    @Test
    void stringMethodsBehaveAsInPython() throws IOException {
        Path file = config(Map.of("chat_template", "{% set c = messages[0].content %}"
                + "{{ c.strip('\\n') }}|{{ c.lstrip() }}|{{ c.rstrip(' \\n') }}|{{ c.split('b')|join('#') }}|"
                + "{{ c.split()|length }}|{% if c.startswith('\\n') %}S{% endif %}{% if c.endswith('x') %}X{% endif %}"
                + "{% if c.endswith(('x', ' \\n')) %}T{% endif %}|"
                + "{{ c|trim }}"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(file).orElseThrow();
        String rendered = template.render(List.of(new ChatMessage("user", "\n a b\u00a0c \n")), false);
        assertEquals(" a b\u00a0c |a b\u00a0c \n|\n a b\u00a0c|\n a #\u00a0c \n|3|ST|a b\u00a0c", rendered);

        Path emptySeparator = config(Map.of("chat_template", "{{ messages[0].content.split('') }}"));
        ChatTemplate failing = ChatTemplate.fromTokenizerConfig(emptySeparator).orElseThrow();
        BadInputException e = assertThrows(BadInputException.class,
                () -> failing.render(List.of(new ChatMessage("user", "x")), false));
        assertTrue(e.getMessage().contains("empty separator"), e.getMessage());
    }

    @Test
    void strftimeNowReadsTheInjectedClock() throws IOException {
        Path file = config(Map.of("chat_template",
                "{% if strftime_now is defined %}{{ strftime_now('%d %b %Y, %A %B %-d') }}{% endif %}"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(file, ChatFixtures.FIXTURE_DAY).orElseThrow();
        assertEquals("26 Jul 2024, Friday July %-d", template.render(List.of(), false));
    }

    /** transformers' tojson is json.dumps(ensure_ascii=False): spaced separators, not Jinjava's compact JSON. */
    @Test
    void tojsonWritesAsPythonsJsonDumps() throws IOException {
        Path file = config(Map.of("chat_template",
                "{% set d = {'a': [1, 2.5, none, true], 'b': {} } %}"
                        + "{{ messages[0]|tojson }}|{{ d|tojson(indent=2) }}"));
        ChatTemplate template = ChatTemplate.fromTokenizerConfig(file).orElseThrow();
        assertEquals("{\"role\": \"user\", \"content\": \"h\u00e9 \\\"q\\\"\\n\"}|"
                        + "{\n  \"a\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"b\": {}\n}",
                template.render(List.of(new ChatMessage("user", "h\u00e9 \"q\"\n")), false));
    }
}
