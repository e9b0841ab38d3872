package dev.dice.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class JudgeTest {

    private final BuiltinTask task = new BuiltinTask(11);
    private final Judge judge = new Judge();

    @Test
    void correctAnswersScoreOneInEveryFamilyWithOrWithoutFiller() {
        for (Prompt p : task.prompts("eval", 120)) {
            assertEquals(1.0, judge.quality(p, p.answer()), p.text());
            for (String prefix : Filler.PREFIXES) {
                for (String suffix : Filler.SUFFIXES) {
                    assertEquals(1.0, judge.quality(p, prefix + p.answer() + suffix), p.text());
                }
            }
            assertEquals(1.0, judge.quality(p, "Sure! The answer is " + p.answer() + " Done. Hope this helps."));
        }
    }

    @Test
    void wrongAnswersScoreLess() {
        SplittableRandom rng = new SplittableRandom(5);
        for (Prompt p : task.prompts("eval", 120)) {
            Family family = Family.of(p.family());
            String copied = family.copyInput(p.text());
            String edited = Edits.perturb(p.answer(), 1, family.alphabet(), rng);
            assertTrue(judge.quality(p, copied) < 1.0 || copied.equals(p.answer()), p.text());
            assertTrue(judge.quality(p, edited) < 1.0, p.text() + " -> " + edited);
            assertTrue(judge.quality(p, "OK, " + edited) < 1.0);
            assertEquals(0.0, judge.quality(p, ""));
            assertEquals(0.0, judge.quality(p, "Sure!  Done."));
            assertEquals(0.0, judge.quality(p, p.answer(), false), "truncated responses score 0");
        }
    }

    @Test
    void qualityIsOneMinusNormalisedEditDistance() {
        Prompt p = new Prompt("t", "upper", "upper: red cat", "RED CAT");
        assertEquals(1 - 1 / 7.0, judge.quality(p, "RED CAX"), 1e-12);
        assertEquals(1 - 4 / 7.0, judge.quality(p, "RED"), 1e-12);
        assertEquals(1 / 7.0, judge.quality(p, "red cat"), 1e-12); // only the space matches
    }

    @Test
    void preferenceIsAntisymmetric() {
        SplittableRandom rng = new SplittableRandom(6);
        for (Prompt p : task.prompts("eval", 60)) {
            for (int k = 0; k < 5; k++) {
                String a = task.generate(BuiltinTask.Generator.values()[rng.nextInt(5)], p, rng);
                String b = task.generate(BuiltinTask.Generator.values()[rng.nextInt(5)], p, rng);
                assertEquals(1.0, judge.preference(p, a, b) + judge.preference(p, b, a), 1e-12);
                assertEquals(0.5, judge.preference(p, a, a), 1e-12);
            }
        }
    }

    @Test
    void preferenceFavoursQualityAndIsBiasedTowardLength() {
        Prompt p = new Prompt("t", "add", "add: 23+58", "81");
        String terse = "81";
        String longer = "Sure! The answer is 81 Done.";
        double lengthOnly = judge.preference(p, longer, terse);
        // Equal quality: only λ·Δlen/σ_len = 0.5 · 26 / 10 = 1.3 remains.
        assertEquals(1 / (1 + Math.exp(-1.3)), lengthOnly, 1e-12);
        assertTrue(judge.preference(p, terse, "82") > 0.99);
        assertTrue(judge.preference(p, "Sure! The answer is 82 Done.", terse) < 0.05, "length does not buy quality");
        // Sampling follows the probability.
        SplittableRandom rng = new SplittableRandom(7);
        int wins = 0;
        for (int i = 0; i < 20_000; i++) {
            wins += judge.prefers(p, longer, terse, rng) ? 1 : 0;
        }
        assertEquals(lengthOnly, wins / 20_000.0, 0.015);
    }

    @Test
    void paramsAreReported() {
        assertEquals(new JudgeParams(0.1, 0.5, 10), judge.params());
    }
}
