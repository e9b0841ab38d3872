package dev.dice.coordinator;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.chat.ChatMessage;
import dev.dice.gpu.chat.ChatTemplate;
import dev.dice.task.BuiltinTask;
import dev.dice.task.OfflinePair;
import dev.dice.task.Prompt;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;

/** The data of a run: the built-in task's, or the user's own JSONL files. */
final class Datasets {
    private Datasets() {}

    static List<Training.Example> sftExamples(BuiltinTask task, int n, long seed) {
        SplittableRandom rng = new SplittableRandom(seed ^ 0x5F7L);
        List<Training.Example> out = new ArrayList<>();
        for (Prompt p : task.prompts("sft", n)) {
            out.add(new Training.Example(p.text(), task.demonstration(p, rng)));
        }
        return out;
    }

    /**
     * Prompts, one per line: {"prompt": "..."} or {"messages": [{"role": ..., "content": ...}, ...]}, with an optional
     * "id" (default: "p" + line number). With a chat template each prompt is rendered for the assistant's turn.
     */
    static List<Prompt> readPrompts(Path file, Optional<ChatFormat> chat) {
        List<Prompt> prompts = new ArrayList<>();
        Jsonl.read(file, (node, where) -> {
            String text;
            if (node.has("messages")) {
                List<ChatMessage> messages = messages(node.get("messages"), where, "messages");
                text = chat.orElseThrow(() -> ChatFormat.needsTemplate(where, "messages")).prompt(messages);
            } else {
                String prompt = text(node.get("prompt"), where, "prompt");
                text = chat.map(c -> c.prompt(prompt)).orElse(prompt);
            }
            String id = node.hasNonNull("id") ? node.get("id").asText() : "p" + (prompts.size() + 1);
            prompts.add(new Prompt(id, "user", text, ""));
            return null;
        });
        return prompts;
    }

    /**
     * Offline pairs in the UltraFeedback-binarized shape: "prompt", and "chosen"/"rejected" either strings or
     * chat messages ([{"role": ..., "content": ...}], the last assistant message being the response). With a chat
     * template, messages are split into prompt and response as TRL does, and a plain prompt is rendered as a user turn.
     */
    static List<OfflinePair> readOfflinePairs(Path file, Optional<ChatFormat> chat) {
        List<OfflinePair> pairs = new ArrayList<>();
        Jsonl.read(file, (node, where) -> {
            String id = node.hasNonNull("prompt_id") ? node.get("prompt_id").asText() : "off" + (pairs.size() + 1);
            JsonNode chosen = node.get("chosen");
            JsonNode rejected = node.get("rejected");
            if (chat.isPresent() && chosen != null && chosen.isArray()) {
                ChatTemplate.PromptResponse c = chat.get().split(messages(chosen, where, "chosen"));
                ChatTemplate.PromptResponse r = chat.get().split(messages(rejected, where, "rejected"));
                if (!c.prompt().equals(r.prompt())) {
                    throw new BadInputException(where + ": fields 'chosen' and 'rejected' must share every turn before"
                            + " the last assistant message");
                }
                pairs.add(new OfflinePair(id, c.prompt(), c.response(), r.response()));
            } else {
                String prompt = text(node.get("prompt"), where, "prompt");
                pairs.add(new OfflinePair(id, chat.map(f -> f.prompt(prompt)).orElse(prompt),
                        response(chosen, where, "chosen"), response(rejected, where, "rejected")));
            }
            return null;
        });
        return pairs;
    }

    private static List<ChatMessage> messages(JsonNode node, String where, String field) {
        if (node == null || !node.isArray() || node.isEmpty()) {
            throw new BadInputException(where + ": field '" + field + "' must be a non-empty list of chat messages");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            out.add(new ChatMessage(text(node.get(i).get("role"), where, field + "[" + i + "].role"),
                    text(node.get(i).get("content"), where, field + "[" + i + "].content")));
        }
        return out;
    }

    private static String response(JsonNode node, String where, String field) {
        if (node != null && node.isArray()) {
            for (int i = node.size() - 1; i >= 0; i--) {
                JsonNode message = node.get(i);
                if ("assistant".equals(message.path("role").asText())) {
                    return text(message.get("content"), where, field + "[" + i + "].content");
                }
            }
            throw new BadInputException(where + ": field '" + field + "' has no assistant message");
        }
        return text(node, where, field);
    }

    private static String text(JsonNode node, String where, String field) {
        if (node == null || !node.isTextual()) {
            throw new BadInputException(where + ": field '" + field + "' is missing or not a string");
        }
        return node.asText();
    }
}
