package dev.dice.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.gpu.BadInputException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BuiltinTaskTest {

    private final BuiltinTask task = new BuiltinTask(7);

    @Test
    void sameSeedGivesSamePromptsAndResponses() {
        BuiltinTask twin = new BuiltinTask(7);
        assertEquals(task.prompts("eval", 200), twin.prompts("eval", 200));
        Prompt p = task.prompts("sft", 1).get(0);
        assertEquals(task.demonstration(p, new SplittableRandom(3)), twin.demonstration(p, new SplittableRandom(3)));
        assertEquals(task.offlineCandidates(p, new SplittableRandom(3)),
                twin.offlineCandidates(p, new SplittableRandom(3)));
        assertNotEquals(task.prompts("eval", 50), new BuiltinTask(8).prompts("eval", 50));
    }

    @Test
    void shorterListIsAPrefixOfLongerOne() {
        assertEquals(task.prompts("round1", 30), task.prompts("round1", 90).subList(0, 30));
    }

    @Test
    void splitsAreDisjointAndDistinctWithin() {
        Map<String, String> owner = new HashMap<>();
        Set<String> ids = new HashSet<>();
        Map<String, Integer> sizes = Map.of("sft", 6000, "offline", 3000, "eval", 800, "round1", 800,
                "round2", 800, "round8", 300);
        sizes.forEach((split, n) -> {
            List<Prompt> prompts = task.prompts(split, n);
            assertEquals(n, prompts.size());
            for (Prompt p : prompts) {
                String previous = owner.put(p.text(), split);
                assertTrue(previous == null, p.text() + " in both " + previous + " and " + split);
                assertTrue(ids.add(p.id()), "duplicate id " + p.id());
            }
        });
    }

    @Test
    void promptsCycleThroughFamilies() {
        List<Prompt> prompts = task.prompts("eval", 12);
        for (int i = 0; i < prompts.size(); i++) {
            assertEquals(Family.values()[i % 6].label(), prompts.get(i).family());
        }
    }

    @Test
    void unknownSplitAndNegativeCountAreRefused() {
        assertThrows(BadInputException.class, () -> task.prompts("train", 1));
        assertThrows(BadInputException.class, () -> task.prompts("round9", 1));
        assertThrows(BadInputException.class, () -> task.prompts("round01", 1));
        assertThrows(BadInputException.class, () -> task.prompts("eval", -1));
    }

    @Test
    void everythingFitsTheContextWindow() {
        SplittableRandom rng = new SplittableRandom(1);
        String longestPrefix = "Here: ";
        String longestSuffix = " Hope this helps.";
        for (Prompt p : task.prompts("offline", 3000)) {
            assertTrue(p.text().length() <= 24, p.text());
            assertTrue(p.answer().length() <= 12, p.answer());
            assertTrue(BuiltinTask.fits(p, longestPrefix + p.answer() + longestSuffix), p.text());
            assertTrue(p.text().length() + FRAMING + (longestPrefix + p.answer() + longestSuffix).length() <= 64);
            assertTrue(BuiltinTask.fits(p, task.demonstration(p, rng)), p.text());
            for (String candidate : task.offlineCandidates(p, rng)) {
                assertTrue(BuiltinTask.fits(p, candidate), p.text() + " / " + candidate);
            }
        }
    }

    private static final int FRAMING = BuiltinTask.FRAMING_BYTES;

    @Test
    void demonstrationsFollowTheStatedMix() {
        Judge judge = new Judge();
        SplittableRandom rng = new SplittableRandom(2);
        int correct = 0;
        int copied = 0;
        int withPrefix = 0;
        int n = 0;
        for (Prompt p : task.prompts("sft", 3000)) {
            String demo = task.demonstration(p, rng);
            String core = Filler.strip(demo);
            if (core.equals(p.answer())) {
                correct++;
            } else if (core.equals(Family.of(p.family()).copyInput(p.text()))) {
                copied++;
            }
            withPrefix += demo.startsWith(core) ? 0 : 1;
            assertTrue(judge.quality(p, demo) >= 0);
            n++;
        }
        assertEquals(0.6, (double) correct / n, 0.04);
        assertEquals(0.3, (double) copied / n, 0.04);
        assertEquals(0.6, (double) withPrefix / n, 0.04);
    }

    @Test
    void offlineGeneratorsDifferInQualityAndLength() {
        Judge judge = new Judge();
        SplittableRandom rng = new SplittableRandom(4);
        List<Prompt> prompts = task.prompts("offline", 600);
        double[] quality = new double[BuiltinTask.Generator.values().length];
        double[] length = new double[quality.length];
        for (Prompt p : prompts) {
            for (BuiltinTask.Generator g : BuiltinTask.Generator.values()) {
                String response = task.generate(g, p, rng);
                quality[g.ordinal()] += judge.quality(p, response) / prompts.size();
                length[g.ordinal()] += (double) response.length() / prompts.size();
            }
        }
        assertEquals(1.0, quality[BuiltinTask.Generator.CORRECT_TERSE.ordinal()], 1e-12);
        assertEquals(1.0, quality[BuiltinTask.Generator.CORRECT_VERBOSE.ordinal()], 1e-12);
        assertTrue(quality[BuiltinTask.Generator.NOISY.ordinal()] < 0.9);
        assertTrue(quality[BuiltinTask.Generator.SYSTEMATIC_WRONG.ordinal()] < 0.5);
        assertTrue(length[BuiltinTask.Generator.CORRECT_VERBOSE.ordinal()]
                > length[BuiltinTask.Generator.CORRECT_TERSE.ordinal()] + 12);
    }

    @Test
    void verboseCandidatesStayOnTheDemonstrationsSupportUnlessAskedOtherwise() {
        SplittableRandom rng = new SplittableRandom(6);
        BuiltinTask offSupport = new BuiltinTask(7, false);
        boolean sawForeignPhrase = false;
        for (Prompt p : task.prompts("offline", 300)) {
            for (BuiltinTask.Generator g : List.of(BuiltinTask.Generator.CORRECT_VERBOSE,
                    BuiltinTask.Generator.VERBOSE_WRONG)) {
                String on = task.generate(g, p, rng);
                assertFalse(on.contains("The answer is ") || on.contains(" Glad to help!"), on);
                assertTrue(BuiltinTask.fits(p, on), on);
                String off = offSupport.generate(g, p, rng);
                sawForeignPhrase |= off.contains("The answer is ") || off.contains(" Glad to help!");
            }
        }
        assertTrue(sawForeignPhrase, "the off-support style stacks phrases the demonstrations never use");
    }

    @Test
    void describeNamesFamiliesNoiseAndJudge() {
        String text = task.describe();
        for (Family family : Family.values()) {
            assertTrue(text.contains(family.example()), family.label());
        }
        assertTrue(text.contains("60% correct"));
        assertTrue(text.contains("tau=0.1 lambda=0.5 sigma_len=10.0"));
    }
}
