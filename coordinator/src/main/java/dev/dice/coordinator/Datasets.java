package dev.dice.coordinator;

import com.fasterxml.jackson.databind.JsonNode;
import dev.dice.gpu.BadInputException;
import dev.dice.task.BuiltinTask;
import dev.dice.task.OfflinePair;
import dev.dice.task.Prompt;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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

    /** Prompts, one per line: {"prompt": "..."} with an optional "id" (default: "p" + line number). */
    static List<Prompt> readPrompts(Path file) {
        List<Prompt> prompts = new ArrayList<>();
        Jsonl.read(file, (node, where) -> {
            String text = text(node.get("prompt"), where, "prompt");
            String id = node.hasNonNull("id") ? node.get("id").asText() : "p" + (prompts.size() + 1);
            prompts.add(new Prompt(id, "user", text, ""));
            return null;
        });
        return prompts;
    }

    /**
     * Offline pairs in the UltraFeedback-binarized shape: "prompt", and "chosen"/"rejected" either strings or
     * chat messages ([{"role": ..., "content": ...}], the last assistant message being the response).
     */
    static List<OfflinePair> readOfflinePairs(Path file) {
        List<OfflinePair> pairs = new ArrayList<>();
        Jsonl.read(file, (node, where) -> {
            String prompt = text(node.get("prompt"), where, "prompt");
            String id = node.hasNonNull("prompt_id") ? node.get("prompt_id").asText() : "off" + (pairs.size() + 1);
            pairs.add(new OfflinePair(id, prompt, response(node.get("chosen"), where, "chosen"),
                    response(node.get("rejected"), where, "rejected")));
            return null;
        });
        return pairs;
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
