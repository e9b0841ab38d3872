package dev.dice.task;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The polite phrases responses wrap their answer in. They carry no content: the judge strips them before it
 * measures quality, so filler only changes a response's length, which the judge's length bias rewards.
 */
final class Filler {

    static final List<String> PREFIXES = List.of("Sure! ", "OK, ", "Here: ", "The answer is ");
    static final List<String> SUFFIXES = List.of(" Done.", " Hope this helps.", " Glad to help!");

    /** The short phrases of everyday demonstrations; verbose responses may also use the others. */
    static final List<String> PLAIN_PREFIXES = PREFIXES.subList(0, 3);
    static final List<String> PLAIN_SUFFIXES = SUFFIXES.subList(0, 2);

    /** Demonstration-style filler: 40% no prefix, 50% no suffix, otherwise one plain phrase each. */
    static final double NO_PREFIX = 0.4;
    static final double NO_SUFFIX = 0.5;

    private Filler() {
    }

    /** Removes every known filler phrase at either end (repeatedly, so stacked phrases go too), then spaces. */
    static String strip(String response) {
        String s = response;
        boolean changed = true;
        while (changed) {
            changed = false;
            for (String prefix : PREFIXES) {
                if (s.startsWith(prefix)) {
                    s = s.substring(prefix.length());
                    changed = true;
                }
            }
            for (String suffix : SUFFIXES) {
                if (s.endsWith(suffix)) {
                    s = s.substring(0, s.length() - suffix.length());
                    changed = true;
                }
            }
        }
        return s.strip();
    }

    /** The everyday wrapping of demonstrations, drawn independently of whether the core is right. */
    static String plain(String core, SplittableRandom rng) {
        String prefix = rng.nextDouble() < NO_PREFIX ? "" : pick(PLAIN_PREFIXES, rng);
        String suffix = rng.nextDouble() < NO_SUFFIX ? "" : pick(PLAIN_SUFFIXES, rng);
        return prefix + core + suffix;
    }

    /**
     * A long wrapping: two prefixes and two suffixes, fewer when they do not fit in {@code maxLength}
     * characters. Phrases keep the order of the lists ("Sure! Here: …", "OK, The answer is …") so the text reads
     * naturally.
     */
    static String verbose(String core, int maxLength, SplittableRandom rng) {
        List<String> prefixes = randomSubset(PREFIXES, 2, rng);
        List<String> suffixes = randomSubset(SUFFIXES, 2, rng);
        return fit(prefixes, core, suffixes, maxLength, rng);
    }

    /**
     * The longest wrapping the demonstrations themselves use: one plain prefix and one plain suffix (fewer when
     * they do not fit in {@code maxLength} characters). On the SFT model's support, unlike {@link #verbose}, whose
     * phrases ("The answer is ", " Glad to help!") and stacking the demonstrations never contain.
     */
    static String full(String core, int maxLength, SplittableRandom rng) {
        List<String> prefixes = new ArrayList<>(List.of(pick(PLAIN_PREFIXES, rng)));
        List<String> suffixes = new ArrayList<>(List.of(pick(PLAIN_SUFFIXES, rng)));
        return fit(prefixes, core, suffixes, maxLength, rng);
    }

    /** The wrapping, with pieces dropped at random until it fits in {@code maxLength} characters. */
    private static String fit(List<String> prefixes, String core, List<String> suffixes, int maxLength,
            SplittableRandom rng) {
        String response = join(prefixes, core, suffixes);
        while (response.length() > maxLength && !(prefixes.isEmpty() && suffixes.isEmpty())) {
            boolean dropPrefix = suffixes.isEmpty() || (!prefixes.isEmpty() && rng.nextBoolean());
            (dropPrefix ? prefixes : suffixes).remove(0);
            response = join(prefixes, core, suffixes);
        }
        return response;
    }

    private static String join(List<String> prefixes, String core, List<String> suffixes) {
        return String.join("", prefixes) + core + String.join("", suffixes);
    }

    /** {@code size} phrases chosen uniformly at random, kept in list order. */
    private static List<String> randomSubset(List<String> phrases, int size, SplittableRandom rng) {
        List<String> chosen = new ArrayList<>();
        int needed = size;
        for (int i = 0; i < phrases.size() && needed > 0; i++) {
            // Selection sampling: take phrase i with probability needed / remaining.
            if (rng.nextInt(phrases.size() - i) < needed) {
                chosen.add(phrases.get(i));
                needed--;
            }
        }
        return chosen;
    }

    private static String pick(List<String> phrases, SplittableRandom rng) {
        return phrases.get(rng.nextInt(phrases.size()));
    }
}
