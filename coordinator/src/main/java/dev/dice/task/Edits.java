package dev.dice.task;

import java.util.SplittableRandom;

/** Character edits: the distance the judge measures, and the noise the imperfect generators add. */
final class Edits {

    private Edits() {
    }

    /** Levenshtein distance (insert, delete, substitute one character, each cost 1). */
    static int distance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitute = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitute, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
    }

    /**
     * Applies {@code count} random edits (substitute, insert, or delete) using characters of {@code alphabet}.
     * Never deletes the last character, and a substitution always changes the character, so the result differs
     * from the input after one edit.
     */
    static String perturb(String s, int count, String alphabet, SplittableRandom rng) {
        StringBuilder out = new StringBuilder(s);
        for (int e = 0; e < count; e++) {
            int kind = rng.nextInt(3);
            if (kind == 2 && out.length() > 1) {
                out.deleteCharAt(rng.nextInt(out.length()));
            } else if (kind == 1 || out.isEmpty()) {
                out.insert(rng.nextInt(out.length() + 1), randomChar(alphabet, rng));
            } else {
                int at = rng.nextInt(out.length());
                char replacement;
                do {
                    replacement = randomChar(alphabet, rng);
                } while (replacement == out.charAt(at) && alphabet.length() > 1);
                out.setCharAt(at, replacement);
            }
        }
        return out.toString();
    }

    private static char randomChar(String alphabet, SplittableRandom rng) {
        return alphabet.charAt(rng.nextInt(alphabet.length()));
    }
}
