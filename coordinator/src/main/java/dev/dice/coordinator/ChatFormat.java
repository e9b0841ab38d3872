package dev.dice.coordinator;

import dev.dice.gpu.BadInputException;
import dev.dice.gpu.HfTokenizer;
import dev.dice.gpu.chat.ChatMessage;
import dev.dice.gpu.chat.ChatTemplate;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * How a chat model's prompts and responses are written: through the chat template of its tokenizer, as
 * transformers' apply_chat_template writes them. A prompt becomes the user turn (after the run's system prompt,
 * if any) followed by the generation prompt; an offline pair's chat messages are split the way TRL and the alignment
 * handbook split them (prompt: everything but the last assistant turn, with the generation prompt; response: the rest,
 * the end-of-turn token included).
 */
record ChatFormat(ChatTemplate template, String systemPrompt) {

    /** The format of the run's tokenizer, or empty when it has no chat template or the run turned templates off. */
    static Optional<ChatFormat> of(RunConfig.Model model) {
        if (model.tokenizer().isEmpty() || !model.chatTemplate()) {
            return Optional.empty();
        }
        Path tokenizer = Path.of(model.tokenizer());
        Path dir = Files.isDirectory(tokenizer) ? tokenizer : tokenizer.toAbsolutePath().getParent();
        Path config = dir.resolve(HfTokenizer.TOKENIZER_CONFIG_FILE);
        return (Files.exists(config) ? ChatTemplate.fromTokenizerConfig(config) : Optional.<ChatTemplate>empty())
                .map(t -> new ChatFormat(t, model.systemPrompt()));
    }

    /** A prompt of one user turn. */
    String prompt(String user) {
        return prompt(List.of(new ChatMessage("user", user)));
    }

    /** The conversation so far, ready for the assistant's turn. */
    String prompt(List<ChatMessage> conversation) {
        return template.render(withSystem(conversation), true);
    }

    /** A conversation ending with the assistant's turn, split into prompt and response. */
    ChatTemplate.PromptResponse split(List<ChatMessage> conversation) {
        return template.split(withSystem(conversation));
    }

    private List<ChatMessage> withSystem(List<ChatMessage> conversation) {
        if (systemPrompt.isEmpty() || (!conversation.isEmpty() && conversation.get(0).role().equals("system"))) {
            return conversation;
        }
        List<ChatMessage> out = new ArrayList<>(List.of(new ChatMessage("system", systemPrompt)));
        out.addAll(conversation);
        return out;
    }

    /** Refuses chat messages in a run without a template: they have no text without one. */
    static BadInputException needsTemplate(String where, String field) {
        return new BadInputException(where + ": field '" + field + "' holds chat messages, which need a chat template"
                + " (the tokenizer's tokenizer_config.json has none, or dice.model.chat-template is off)");
    }
}
