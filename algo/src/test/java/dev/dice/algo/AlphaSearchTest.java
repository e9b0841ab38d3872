package dev.dice.algo;

import static dev.dice.algo.PairSelectionTest.c;
import static dev.dice.algo.PairSelectionTest.invalid;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class AlphaSearchTest {

    @Test
    void handWorkedSinglePrompt() {
        // Lines r − α·len: A = 3 − 30α, B = 2 − 20α, C = 0 − 10α.
        // Chosen: A on (0, 0.1), B on (0.1, 0.2), C after. Rejected: C on (0, 0.15), A after.
        // Gaps per interval: 20, 10, −10, −20. |10| ties between (0.1, 0.15) and (0.15, 0.2): the smaller α wins.
        List<Candidate> all = List.of(c("p", 0, 3.0, 30), c("p", 1, 2.0, 20), c("p", 2, 0.0, 10));
        AlphaSearch.Result result = AlphaSearch.search(all, 2);
        assertEquals(0.125, result.alpha(), 1e-12);
        assertEquals(10.0, result.meanGap(), 0.0);
        assertEquals(20.0, result.meanGapAtZero(), 0.0);
        assertEquals(4, result.intervals());
    }

    @Test
    void twoPromptsCanCancelExactly() {
        // Prompt a alone: gap 20 then −20 after α = 0.1. Prompt b: constant gap −20 (longer is worse at any α).
        // Mean gap: (20 − 20)/2 = 0 on (0, 0.1), better than (−20 − 20)/2 after: α* = 0.05, gap 0.
        List<Candidate> all = List.of(c("a", 0, 2.0, 30), c("a", 1, 0.0, 10), c("b", 0, 1.0, 10), c("b", 1, 0.0, 30));
        AlphaSearch.Result result = AlphaSearch.search(all, 2);
        // α = 0 gives the same |gap| with the same selection and is smaller.
        assertEquals(0.0, result.alpha(), 0.0);
        assertEquals(0.0, result.meanGap(), 0.0);
        assertEquals(2, result.intervals());
    }

    @Test
    void allEqualLengthsGiveAlphaZeroAndGapZero() {
        List<Candidate> all = new ArrayList<>();
        SplittableRandom random = new SplittableRandom(7);
        for (int p = 0; p < 50; p++) {
            for (int k = 0; k < 8; k++) {
                all.add(c("p" + p, k, random.nextDouble(-5, 5), 42));
            }
        }
        AlphaSearch.Result result = AlphaSearch.search(all, 4);
        assertEquals(0.0, result.alpha(), 0.0);
        assertEquals(0.0, result.meanGap(), 0.0);
        assertEquals(0.0, result.meanGapAtZero(), 0.0);
        assertEquals(1, result.intervals());
    }

    @Test
    void equalRewardsWithDifferentLengthsAreSkippedOnlyAtAlphaZero() {
        // Prompt t ties at α = 0 (PairSelection skips it there); for every α > 0 the shorter one is chosen: gap −10.
        // Prompt u: gap +10 at α = 0, flips to −10 after α = 0.1.
        List<Candidate> all = List.of(c("t", 0, 1.0, 10), c("t", 1, 1.0, 20),
                c("u", 0, 1.0, 20), c("u", 1, 0.0, 10));
        AlphaSearch.Result result = AlphaSearch.search(all, 2);
        // D(0) = {u}: gap 10. (0, 0.1): (−10 + 10)/2 = 0. After: −10.
        assertEquals(10.0, result.meanGapAtZero(), 0.0);
        assertEquals(0.05, result.alpha(), 1e-12);
        assertEquals(0.0, result.meanGap(), 0.0);
        assertConsistentWithPairSelection(all, 2, result);
    }

    @Test
    void onlyTieAtZeroMeansAlphaZeroIsNoCandidate() {
        // D(0) is empty, so its "gap 0" must not win against the real pairs at α > 0.
        List<Candidate> all = List.of(c("t", 0, 1.0, 10), c("t", 1, 1.0, 20));
        AlphaSearch.Result result = AlphaSearch.search(all, 2);
        assertEquals(1.0, result.alpha(), 0.0, "single unbounded interval: last breakpoint (0) + 1");
        assertEquals(-10.0, result.meanGap(), 0.0);
        assertConsistentWithPairSelection(all, 2, result);
    }

    @Test
    void promptsWithASingleValidResponseAreLeftOut() {
        List<Candidate> all = List.of(
                c("one", 0, 5.0, 100), invalid("one", 1, 0.0, 1),
                c("two", 0, 1.0, 20), c("two", 1, 0.0, 10));
        AlphaSearch.Result result = AlphaSearch.search(all, 1);
        // Only "two" counts: gap 10 until α = 0.1, then −10. Best: (0, 0.1) with |10|, tied by α = 0 (same |gap|).
        assertEquals(0.0, result.alpha(), 0.0);
        assertEquals(10.0, result.meanGap(), 0.0);
        assertEquals(2, result.intervals());

        AlphaSearch.Result none = AlphaSearch.search(List.of(c("one", 0, 5.0, 100), invalid("one", 1, 0, 1)), 1);
        assertEquals(new AlphaSearch.Result(0.0, 0.0, 0.0, 1), none);
    }

    @Test
    void exactDuplicatesNeverMakeAPair() {
        List<Candidate> all = List.of(c("d", 0, 1.0, 10), c("d", 1, 1.0, 10),
                c("e", 0, 2.0, 20), c("e", 1, 0.0, 10), c("e", 2, 0.0, 10));
        AlphaSearch.Result result = AlphaSearch.search(all, 2);
        assertConsistentWithPairSelection(all, 2, result);
        assertEquals(1, PairSelection.select(all, result.alpha(), 2).size());
    }

    /** Random instances, many with ties in rewards and lengths, checked against PairSelection and brute force. */
    @Test
    void matchesBruteForceOnRandomInstances() {
        SplittableRandom random = new SplittableRandom(20240614);
        int positiveAlpha = 0;
        for (int instance = 0; instance < 400; instance++) {
            int k = 1 + random.nextInt(8);
            int minValid = random.nextInt(PairSelection.minValidFor(k) + 1);
            List<Candidate> all = randomInstance(random, 1 + random.nextInt(12), k);
            AlphaSearch.Result result = AlphaSearch.search(all, minValid);
            String where = "instance " + instance + ": " + result;

            assertConsistentWithPairSelection(all, minValid, result);
            if (result.alpha() > 0) {
                positiveAlpha++;
            }

            // Every crossing of every pair of valid responses of a prompt: a superset of the real breakpoints.
            TreeSet<Double> crossings = new TreeSet<>();
            for (List<Candidate> prompt : PairSelection.byPrompt(all).values()) {
                for (Candidate a : prompt) {
                    for (Candidate b : prompt) {
                        if (a.valid() && b.valid() && a.length() > b.length()) {
                            double x = (a.reward() - b.reward()) / (a.length() - b.length());
                            if (x > 0) {
                                crossings.add(x);
                            }
                        }
                    }
                }
            }
            // Canonical points, in increasing order: 0, the midpoints, last crossing + 1.
            List<Double> canonical = new ArrayList<>();
            canonical.add(0.0);
            double previous = 0.0;
            for (double x : crossings) {
                canonical.add(previous + (x - previous) / 2);
                previous = x;
            }
            canonical.add(previous + 1.0);
            List<Double> probes = new ArrayList<>(canonical);
            for (int i = 0; i < 200; i++) {
                probes.add(random.nextDouble() * (2 * previous + 1)); // random doubles: never exactly a breakpoint
            }

            boolean anyPairs = probes.stream().anyMatch(a -> !PairSelection.select(all, a, minValid).isEmpty());
            double bestAbs = Double.POSITIVE_INFINITY;
            for (double alpha : probes) {
                List<Pair> pairs = PairSelection.select(all, alpha, minValid);
                if (pairs.isEmpty() && anyPairs) {
                    continue; // an empty D(α) is no answer while some α gives pairs
                }
                double gap = Math.abs(PairSelection.meanLengthGap(pairs));
                assertTrue(gap >= Math.abs(result.meanGap()) - 1e-9, where + " beaten at α = " + alpha + ": " + gap);
                bestAbs = Math.min(bestAbs, gap);
            }
            assertEquals(bestAbs, Math.abs(result.meanGap()), 1e-9, where);

            // Ties go to the smallest α: the first canonical point reaching the optimum selects the same pairs.
            for (double alpha : canonical) {
                List<Pair> pairs = PairSelection.select(all, alpha, minValid);
                if ((pairs.isEmpty() && anyPairs) || Math.abs(PairSelection.meanLengthGap(pairs)) > bestAbs + 1e-9) {
                    continue;
                }
                assertEquals(pairs, PairSelection.select(all, result.alpha(), minValid), where + " first optimum " + alpha);
                break;
            }
        }
        System.out.println("AlphaSearch brute force: α* > 0 in " + positiveAlpha + " of 400 instances");
        assertTrue(positiveAlpha > 100, "the instances exercise the sweep, not just α = 0: " + positiveAlpha);
    }

    @Test
    void meanGapNeverGrowsWithAlpha() {
        // Why the optimum is where the gap crosses zero: as α grows the chosen response only gets shorter and the
        // rejected only longer. A property of the method, checked here as a sanity test of the selection.
        SplittableRandom random = new SplittableRandom(3);
        List<Candidate> all = randomInstance(random, 200, 8);
        double previous = Double.POSITIVE_INFINITY;
        for (double alpha = 0.001; alpha < 5; alpha *= 1.1) {
            double gap = PairSelection.meanLengthGap(PairSelection.select(all, alpha, 4));
            assertTrue(gap <= previous, "gap rose at α = " + alpha);
            previous = gap;
        }
    }

    @Test
    void tenThousandPromptsOfSixteenSweepManyIntervalsAndBalanceLengths() {
        SplittableRandom random = new SplittableRandom(11);
        List<Candidate> all = new ArrayList<>();
        for (int p = 0; p < 10_000; p++) {
            double lengthTaste = random.nextDouble(0.001, 0.02); // reward grows with length, as in practice
            for (int k = 0; k < 16; k++) {
                int length = 20 + random.nextInt(600);
                all.add(new Candidate("p" + p, k, random.nextGaussian() * 3 + lengthTaste * length, 0.0, length,
                        random.nextDouble() < 0.95));
            }
        }
        AlphaSearch.Result result = AlphaSearch.search(all, 8); // its speed: ./dice bench alpha
        assertTrue(result.intervals() > 10_000, "a real sweep: " + result);
        assertTrue(result.meanGapAtZero() > 50, "rewards favour length at α = 0: " + result);
        assertTrue(Math.abs(result.meanGap()) < 1.0, "α* balances lengths: " + result);
        assertConsistentWithPairSelection(all, 8, result);
    }

    private static void assertConsistentWithPairSelection(List<Candidate> all, int minValid, AlphaSearch.Result r) {
        assertEquals(PairSelection.meanLengthGap(PairSelection.select(all, r.alpha(), minValid)), r.meanGap(), 1e-9,
                "meanGap vs PairSelection at α = " + r.alpha());
        assertEquals(PairSelection.meanLengthGap(PairSelection.select(all, 0.0, minValid)), r.meanGapAtZero(), 1e-9);
    }

    /** Prompts with 1..k candidates; half the instances use small integer rewards and lengths to force ties. */
    private static List<Candidate> randomInstance(SplittableRandom random, int prompts, int k) {
        boolean ties = random.nextBoolean();
        int maxLength = ties ? 1 + random.nextInt(4) : 1 + random.nextInt(50);
        // Usually rewards favour length, as they do in practice, so that the best α is often above 0.
        double lengthTaste = ties ? random.nextInt(3) : random.nextDouble(0, 0.3);
        List<Candidate> all = new ArrayList<>();
        for (int p = 0; p < prompts; p++) {
            int n = 1 + random.nextInt(k);
            for (int s = 0; s < n; s++) {
                int length = 1 + random.nextInt(maxLength);
                double reward = (ties ? random.nextInt(4) : random.nextDouble(-3, 3)) + lengthTaste * length;
                all.add(new Candidate("p" + p, s, reward, 0.0, length, random.nextDouble() < 0.8));
            }
        }
        return all;
    }
}
