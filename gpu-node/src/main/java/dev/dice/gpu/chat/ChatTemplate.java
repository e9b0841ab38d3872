package dev.dice.gpu.chat;

import dev.dice.gpu.BadInputException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A model's chat template from its tokenizer_config.json, rendered as transformers' apply_chat_template renders it:
 * the Jinja template sees {@code messages} (maps with role and content), {@code add_generation_prompt}, the special
 * tokens the file sets ({@code bos_token}, {@code eos_token}...), {@code tools} and {@code documents} as none, and
 * the functions {@code raise_exception(msg)} and {@code strftime_now(format)}.
 *
 * <p>The engine is Jinjava, extended to Python's Jinja where Hugging Face templates need it ({@link JinjaRenderer}
 * says how, including the one textual rewrite, {@code name[::-1]}). Renderings of the Llama-3, Llama-3.1, Qwen3 and
 * Zephyr templates are checked byte for byte against Hugging Face's own renderer (tests/fixtures/chat).
 * Where that JS renderer departs from Python's Jinja, Python wins: {@code s.strip('\n')} strips only newlines.
 */
public final class ChatTemplate {

    /** A conversation cut before its last (assistant) turn: the text to condition on and the text to learn. */
    public record PromptResponse(String prompt, String response) {}

    /** The variables transformers defines as functions; set so that {@code strftime_now is defined} holds. */
    private static final Map<String, Object> FUNCTION_NAMES =
            Map.of("raise_exception", "<function raise_exception>", "strftime_now", "<function strftime_now>");

    private final TokenizerChatConfig config;
    private final JinjaRenderer renderer;

    private ChatTemplate(TokenizerChatConfig config, JinjaRenderer renderer) {
        this.config = config;
        this.renderer = renderer;
    }

    /**
     * Reads {@code chat_template}, {@code bos_token}, {@code eos_token} (and the other special tokens) from a
     * tokenizer_config.json. Empty when the file has no chat_template; BadInputException naming the file and field
     * when it is malformed.
     */
    public static Optional<ChatTemplate> fromTokenizerConfig(Path tokenizerConfigJson) {
        return fromTokenizerConfig(tokenizerConfigJson, SystemClockRenderer.INSTANCE);
    }

    /** As {@link #fromTokenizerConfig(Path)}, with strftime_now reading {@code clock}: a fixed day for tests. */
    static Optional<ChatTemplate> fromTokenizerConfig(Path tokenizerConfigJson, Clock clock) {
        return fromTokenizerConfig(tokenizerConfigJson, new JinjaRenderer(clock));
    }

    private static Optional<ChatTemplate> fromTokenizerConfig(Path file, JinjaRenderer renderer) {
        Optional<TokenizerChatConfig> config = TokenizerChatConfig.read(file);
        if (config.isPresent()) {
            try {
                renderer.parse(config.get().template());
            } catch (JinjaRenderer.Failure e) {
                throw TokenizerChatConfig.bad(file, "chat_template", e.getMessage());
            }
        }
        return config.map(c -> new ChatTemplate(c, renderer));
    }

    /** The text the model sees for {@code messages}, ending with the assistant header when asked. */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        Map<String, Object> variables = new HashMap<>(FUNCTION_NAMES);
        variables.putAll(config.specialTokens());
        variables.put("messages", asMaps(messages));
        variables.put("add_generation_prompt", addGenerationPrompt);
        variables.put("tools", null);
        variables.put("documents", null);
        try {
            return renderer.render(config.template(), variables);
        } catch (JinjaRenderer.Failure e) {
            throw TokenizerChatConfig.bad(config.file(), "chat_template", e.getMessage());
        }
    }

    /**
     * Splits a conversation ending with an assistant turn as TRL and alignment-handbook do: the prompt is every
     * message but the last rendered with the generation prompt, the response what the whole conversation's rendering
     * adds to it (the assistant's text and the template's end of turn).
     */
    public PromptResponse split(List<ChatMessage> conversation) {
        if (conversation.isEmpty()) {
            throw new BadInputException("split: the conversation is empty; its last message must be the assistant's");
        }
        String lastRole = conversation.get(conversation.size() - 1).role();
        if (!lastRole.equals("assistant")) {
            throw new BadInputException(
                    "split: the last message has role '" + lastRole + "'; it must be 'assistant', the response");
        }
        String prompt = render(conversation.subList(0, conversation.size() - 1), true);
        String full = render(conversation, false);
        if (!full.startsWith(prompt)) {
            throw TokenizerChatConfig.bad(config.file(), "chat_template", "the rendering of the whole conversation "
                    + "does not start with the rendering of its prompt (add_generation_prompt=true), so the response "
                    + "cannot be cut from it");
        }
        return new PromptResponse(prompt, full.substring(prompt.length()));
    }

    private static List<Map<String, Object>> asMaps(List<ChatMessage> messages) {
        List<Map<String, Object>> maps = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            maps.add(map);
        }
        return maps;
    }

    /** One renderer on the system clock, made on first use and shared: Jinjava is safe to share across threads. */
    private static final class SystemClockRenderer {
        static final JinjaRenderer INSTANCE = new JinjaRenderer(Clock.systemDefaultZone());
    }
}
