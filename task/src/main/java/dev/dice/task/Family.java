package dev.dice.task;

import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The prompt families, from easy (a character-wise map) to hard (carrying digits). Each knows how to draw an
 * instance, the correct answer, and the systematic wrong strategy of the demonstrations: copying the input.
 */
public enum Family {

    /** {@code upper: red cat} → {@code RED CAT}. */
    UPPER("upper", "upper: red cat", "RED CAT", Chars.UPPER, "upper: ") {
        @Override
        Draw draw(SplittableRandom rng) {
            String phrase = Words.phrase(rng);
            return new Draw("upper: " + phrase, phrase.toUpperCase(Locale.ROOT));
        }
    },

    /** {@code reverse: red cat} → {@code tac der} (the whole string, characters in reverse). */
    REVERSE("reverse", "reverse: red cat", "tac der", Chars.LOWER, "reverse: ") {
        @Override
        Draw draw(SplittableRandom rng) {
            String phrase = Words.phrase(rng);
            return new Draw("reverse: " + phrase, new StringBuilder(phrase).reverse().toString());
        }
    },

    /** {@code repeat ab 3} → {@code ababab}; 2–3 random letters, 2–4 times. */
    REPEAT("repeat", "repeat ab 3", "ababab", Chars.LOWER, null) {
        @Override
        Draw draw(SplittableRandom rng) {
            StringBuilder unit = new StringBuilder();
            int letters = 2 + rng.nextInt(2);
            for (int i = 0; i < letters; i++) {
                unit.append(Chars.LOWER.charAt(rng.nextInt(Chars.LOWER.length())));
            }
            int times = 2 + rng.nextInt(3);
            return new Draw("repeat " + unit + " " + times, unit.toString().repeat(times));
        }

        @Override
        String copyInput(String text) {
            return text.split(" ")[1];
        }
    },

    /** {@code count a in big cat} → {@code 1}; the letter occurs in the phrase 3 times in 4. */
    COUNT("count", "count a in big cat", "1", Chars.DIGITS, " in ") {
        @Override
        Draw draw(SplittableRandom rng) {
            String phrase = Words.phrase(rng);
            char letter;
            if (rng.nextInt(4) < 3) {
                String present = phrase.chars().filter(c -> c != ' ').distinct()
                        .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
                letter = present.charAt(rng.nextInt(present.length()));
            } else {
                do {
                    letter = Chars.LOWER.charAt(rng.nextInt(Chars.LOWER.length()));
                } while (phrase.indexOf(letter) >= 0);
            }
            final char c = letter;
            long count = phrase.chars().filter(x -> x == c).count();
            return new Draw("count " + letter + " in " + phrase, Long.toString(count));
        }
    },

    /** {@code add: 23+58} → {@code 81}; two two-digit numbers. */
    ADD("add", "add: 23+58", "81", Chars.DIGITS, "add: ") {
        @Override
        Draw draw(SplittableRandom rng) {
            int a = 10 + rng.nextInt(90);
            int b = 10 + rng.nextInt(90);
            return new Draw("add: " + a + "+" + b, Integer.toString(a + b));
        }
    },

    /** {@code sort: 3 1 2} → {@code 1 2 3}; 3–5 digits, ascending. */
    SORT("sort", "sort: 3 1 2", "1 2 3", Chars.DIGITS, "sort: ") {
        @Override
        Draw draw(SplittableRandom rng) {
            int[] digits = new int[3 + rng.nextInt(3)];
            for (int i = 0; i < digits.length; i++) {
                digits[i] = rng.nextInt(10);
            }
            String text = "sort: " + spaced(digits);
            Arrays.sort(digits);
            return new Draw(text, spaced(digits));
        }
    };

    /** One drawn instance: the instruction and its correct answer. */
    record Draw(String text, String answer) {
    }

    private final String label;
    private final String example;
    private final String exampleAnswer;
    private final String alphabet;
    /** What precedes the input in an instruction, e.g. {@code "upper: "}; null when the input is not its tail. */
    private final String inputMarker;

    Family(String label, String example, String exampleAnswer, String alphabet, String inputMarker) {
        this.label = label;
        this.example = example;
        this.exampleAnswer = exampleAnswer;
        this.alphabet = alphabet;
        this.inputMarker = inputMarker;
    }

    /** The label stored in {@link Prompt#family()}. */
    public String label() {
        return label;
    }

    /** One example instruction, for descriptions. */
    public String example() {
        return example;
    }

    /** The correct answer to {@link #example()}. */
    public String exampleAnswer() {
        return exampleAnswer;
    }

    /** Characters that noisy edits insert or substitute: the kind of characters the answer is made of. */
    String alphabet() {
        return alphabet;
    }

    abstract Draw draw(SplittableRandom rng);

    /** The systematic wrong strategy: answer with the input unchanged, e.g. {@code red cat} for upper. */
    String copyInput(String text) {
        return text.substring(text.indexOf(inputMarker) + inputMarker.length());
    }

    public static Family of(String label) {
        for (Family family : values()) {
            if (family.label.equals(label)) {
                return family;
            }
        }
        throw new IllegalArgumentException("unknown family '" + label + "'; known: " + Arrays.toString(values()));
    }

    @Override
    public String toString() {
        return label;
    }

    /** Alphabets in a holder class: enum constants may not refer to the enum's own static fields. */
    private static final class Chars {
        static final String LOWER = "abcdefghijklmnopqrstuvwxyz";
        static final String UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        static final String DIGITS = "0123456789";
    }

    private static String spaced(int[] digits) {
        StringBuilder out = new StringBuilder();
        for (int d : digits) {
            out.append(out.isEmpty() ? "" : " ").append(d);
        }
        return out.toString();
    }
}
