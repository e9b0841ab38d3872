package dev.dice.tests;

import java.util.ArrayList;
import java.util.List;

/** Own prompts and offline pairs in every accepted shape: plain strings and chat messages. */
final class TinyChatData {
    private static final String[] WORDS = {"cat", "dog", "sun", "sky", "red", "map", "pen", "cup", "tree", "lamp"};

    private TinyChatData() {}

    /** Every third line as chat messages ({"messages": [...]}), the others as {"prompt": ...}. */
    static List<String> prompts(int n) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String w = words(i);
            lines.add(i % 3 == 0 ? "{\"messages\": [{\"role\": \"user\", \"content\": \"Say " + w + "\"}]}"
                    : "{\"prompt\": \"Write the words " + w + " in capitals.\"}");
        }
        return lines;
    }

    /** Every other pair as chat-message lists (UltraFeedback-binarized), the others as strings. */
    static List<String> offlinePairs(int n) {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String w = words(i);
            String p = "Write the words " + w + " in capitals.";
            String user = "{\"role\": \"user\", \"content\": \"" + p + "\"}";
            lines.add(i % 2 == 0
                    ? "{\"prompt\": \"" + p + "\", \"chosen\": [" + user + ", {\"role\": \"assistant\", \"content\": \""
                            + w.toUpperCase() + "\"}], \"rejected\": [" + user + ", {\"role\": \"assistant\", \"content\":"
                            + " \"" + w + ", as you asked\"}]}"
                    : "{\"prompt\": \"" + p + "\", \"chosen\": \"" + w.toUpperCase() + "\", \"rejected\": \"" + w + "\"}");
        }
        return lines;
    }

    private static String words(int i) {
        return WORDS[i % WORDS.length] + " " + WORDS[(i / WORDS.length) % WORDS.length];
    }
}
