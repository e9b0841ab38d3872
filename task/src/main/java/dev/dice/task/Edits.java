package dev.dice.task;

import java.util.SplittableRandom;

/** Character edits: the noise the imperfect generators add (the judge measures them with {@code EditDistance}). */
final class Edits {

    private Edits() {
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
