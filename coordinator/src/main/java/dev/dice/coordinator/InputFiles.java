package dev.dice.coordinator;

import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Tokenizer;
import dev.dice.task.OfflinePair;
import dev.dice.task.Prompt;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The user's prompts and offline pairs, read whole before any work starts: a problem on line 9000 is found in
 * seconds, not after training. Each problem is one line naming the file and line.
 */
final class InputFiles {
    /** Enough lines of one kind of problem to show the pattern without flooding the terminal. */
    private static final int MAX_LINES = 5;
    /** The last fifth of the prompts is held out for evaluation: fewer than this leaves none. */
    static final int MIN_PROMPTS = 5;

    private InputFiles() {}

    /** Checks the prompts file: readable UTF-8 JSON lines, the fields, unique ids, each prompt shorter than the context. */
    static void checkPrompts(Path file, Optional<ChatFormat> chat, Tokenizer tokenizer, int context, Problems problems) {
        if (!readable(file, "dice.data.prompts (--prompts)", problems)) {
            return;
        }
        List<Prompt> prompts;
        try {
            prompts = Datasets.readPrompts(file, chat);
        } catch (BadInputException e) {
            problems.add(e.getMessage());
            return;
        }
        List<String> lines = Jsonl.read(file, (node, where) -> where);
        if (prompts.size() < MIN_PROMPTS) {
            problems.add(file + ": " + prompts.size() + " prompt(s); at least " + MIN_PROMPTS + " are needed (one JSON"
                    + " object per line, {\"prompt\": ...}; the last fifth is held out for evaluation)");
            return;
        }
        Map<String, String> seen = new HashMap<>();
        Problems.Capped repeated = problems.capped(MAX_LINES);
        Problems.Capped tooLong = problems.capped(MAX_LINES);
        for (int i = 0; i < prompts.size(); i++) {
            String where = lines.get(i);
            String before = seen.putIfAbsent(prompts.get(i).id(), where);
            if (before != null) {
                repeated.add(where + ": prompt id \"" + prompts.get(i).id() + "\" repeats " + before);
            }
            int tokens = promptTokens(tokenizer, prompts.get(i).text());
            if (tokens >= context) {
                tooLong.add(where + ": the prompt has " + tokens + " tokens; the model's context is " + context
                        + " tokens and a prompt must be shorter to leave room for the response");
            }
        }
        repeated.close("prompt ids repeated");
        tooLong.close("prompts too long");
    }

    /**
     * Checks the offline pairs: readable UTF-8 JSON lines, the fields, chosen differing from rejected, each response
     * with its prompt within the context (a pair is scored and trained whole).
     */
    static void checkOfflinePairs(Path file, Optional<ChatFormat> chat, Tokenizer tokenizer, int context,
            Problems problems) {
        if (!readable(file, "dice.data.offline-pairs (--offline-pairs)", problems)) {
            return;
        }
        List<OfflinePair> pairs;
        try {
            pairs = Datasets.readOfflinePairs(file, chat);
        } catch (BadInputException e) {
            problems.add(e.getMessage());
            return;
        }
        if (pairs.isEmpty()) {
            problems.add(file + ": no offline pairs (one JSON object per line: prompt, chosen, rejected)");
            return;
        }
        List<String> lines = Jsonl.read(file, (node, where) -> where);
        Problems.Capped same = problems.capped(MAX_LINES);
        Problems.Capped tooLong = problems.capped(MAX_LINES);
        for (int i = 0; i < pairs.size(); i++) {
            OfflinePair pair = pairs.get(i);
            if (pair.chosen().equals(pair.rejected())) {
                same.add(lines.get(i) + ": 'chosen' and 'rejected' are the same response (a pair teaches nothing)");
            }
            int prompt = promptTokens(tokenizer, pair.prompt());
            int chosen = prompt + responseTokens(tokenizer, pair.chosen());
            int rejected = prompt + responseTokens(tokenizer, pair.rejected());
            if (Math.max(chosen, rejected) > context) {
                String side = chosen >= rejected ? "chosen" : "rejected";
                tooLong.add(lines.get(i) + ": the prompt with its '" + side + "' response has " + Math.max(chosen,
                        rejected) + " tokens; the model's context is " + context + " tokens (a pair is scored and"
                        + " trained whole)");
            }
        }
        same.close("pairs with chosen == rejected");
        tooLong.close("pairs too long");
    }

    /**
     * The prompt's length in tokens as the generator sees it: a chat-rendered prompt as it is, a plain one after BOS
     * and followed by a newline (as {@code Policy.promptTokens} frames it).
     */
    private static int promptTokens(Tokenizer tokenizer, String prompt) {
        return tokenizer.chatTemplate().isPresent() ? tokenizer.encode(prompt).length
                : 1 + tokenizer.encode(prompt + "\n").length;
    }

    /**
     * A response's length in tokens as scoring and training see it: its tokens and the end-of-turn token, which a chat
     * response may already end with (as {@code Policy.responseTokens} frames it).
     */
    private static int responseTokens(Tokenizer tokenizer, String response) {
        int[] ids = tokenizer.encode(response);
        int last = ids.length == 0 ? -1 : ids[ids.length - 1];
        boolean ended = tokenizer.chatTemplate().isPresent()
                && (last == tokenizer.endOfTurnId() || last == tokenizer.eosId());
        return ids.length + (ended ? 0 : 1);
    }

    /** An existing regular file of valid UTF-8; otherwise one line saying what it is instead. */
    private static boolean readable(Path file, String key, Problems problems) {
        if (!Files.exists(file)) {
            problems.add(key + ": " + file + ": no such file");
            return false;
        }
        if (!Files.isRegularFile(file)) {
            problems.add(key + ": " + file + ": " + (Files.isDirectory(file) ? "is a directory" : "is not a regular file")
                    + ", expected a JSONL file");
            return false;
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            problems.add(key + ": " + file + ": cannot read: " + e.getMessage());
            return false;
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(buffer);
        } catch (CharacterCodingException e) {
            int at = buffer.position();
            int line = 1;
            int lineStart = 0;
            for (int i = 0; i < at; i++) {
                if (bytes[i] == '\n') {
                    line++;
                    lineStart = i + 1;
                }
            }
            problems.add(file + ":" + line + ": not UTF-8 (byte 0x" + String.format("%02X", bytes[at] & 0xFF)
                    + " at byte " + (at - lineStart + 1) + " of the line); save the file as UTF-8");
            return false;
        }
        return true;
    }
}
