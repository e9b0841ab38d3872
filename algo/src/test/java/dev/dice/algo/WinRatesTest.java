package dev.dice.algo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class WinRatesTest {

    /** Length differences like real ones: skewed towards a longer policy, heavy spread. */
    static double[] lengthDiffs(SplittableRandom random, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = Math.round(80 + 250 * random.nextGaussian());
        }
        return d;
    }

    static double[] modelProbabilities(double theta, double phi, double[] diffs) {
        double sigma = Stats.sampleStd(diffs);
        return Arrays.stream(diffs).map(d -> WinRates.sigmoid(theta + phi * Math.tanh(d / sigma))).toArray();
    }

    @Test
    void rawIsTheMeanPreference() {
        assertEquals(0.4, WinRates.raw(new double[] {0.0, 1.0, 0.5, 0.1}), 1e-15);
    }

    @Test
    void softLabelsFromTheModelAreFitExactly() {
        double[] diffs = lengthDiffs(new SplittableRandom(1), 5_000);
        double[] p = modelProbabilities(-0.4, 1.3, diffs);
        WinRates.LcFit fit = WinRates.lengthControlled(p, diffs);
        assertEquals(-0.4, fit.theta(), 1e-6);
        assertEquals(1.3, fit.phi(), 1e-6);
        assertEquals(WinRates.sigmoid(-0.4), fit.lcWinRate(), 1e-6);
        assertEquals(Stats.sampleStd(diffs), fit.sigma(), 0.0);
    }

    @Test
    void recoversThetaAndPhiFromBernoulliJudgements() {
        SplittableRandom random = new SplittableRandom(2);
        int n = 20_000;
        double theta = 0.3;
        double phi = 0.9; // the judge likes longer answers
        double[] diffs = lengthDiffs(random, n);
        double[] truth = modelProbabilities(theta, phi, diffs);
        double[] labels = Arrays.stream(truth).map(q -> random.nextDouble() < q ? 1.0 : 0.0).toArray();

        WinRates.LcFit fit = WinRates.lengthControlled(labels, diffs);
        assertEquals(theta, fit.theta(), 0.05, fit.toString());
        assertEquals(phi, fit.phi(), 0.05, fit.toString());
        assertEquals(WinRates.sigmoid(theta), fit.lcWinRate(), 0.015, fit.toString());
        // The policy is longer on average and the judge likes length, so raw overstates quality.
        assertTrue(WinRates.raw(labels) > fit.lcWinRate() + 0.02, "raw " + WinRates.raw(labels) + " vs " + fit);
    }

    @Test
    void withoutALengthEffectLcIsCloseToRaw() {
        SplittableRandom random = new SplittableRandom(3);
        int n = 20_000;
        double[] diffs = lengthDiffs(random, n);
        double[] labels = new double[n];
        for (int i = 0; i < n; i++) {
            labels[i] = random.nextDouble() < 0.3 ? 1.0 : 0.0;
        }
        WinRates.LcFit fit = WinRates.lengthControlled(labels, diffs);
        assertEquals(WinRates.raw(labels), fit.lcWinRate(), 0.015, fit.toString());
        assertEquals(0.0, fit.phi(), 0.07, fit.toString());
    }

    @Test
    void allTiesGiveOneHalf() {
        double[] p = new double[1000];
        Arrays.fill(p, 0.5);
        WinRates.LcFit fit = WinRates.lengthControlled(p, lengthDiffs(new SplittableRandom(4), 1000));
        assertEquals(0.5, fit.lcWinRate(), 1e-12);
        assertEquals(0.0, fit.phi(), 1e-12);
    }

    @Test
    void equalLengthDifferencesDropTheLengthTerm() {
        double[] p = {1, 0, 1, 1, 0.5, 0.2};
        double[] sameDiff = new double[p.length];
        Arrays.fill(sameDiff, 12.0);
        WinRates.LcFit fit = WinRates.lengthControlled(p, sameDiff);
        assertEquals(0.0, fit.sigma(), 0.0);
        assertEquals(0.0, fit.phi(), 0.0);
        assertEquals(WinRates.raw(p), fit.lcWinRate(), 1e-9);
    }

    @Test
    void degenerateInputsStillGiveAFiniteFit() {
        double[] diffs = lengthDiffs(new SplittableRandom(5), 500);
        double[] allWins = new double[500];
        Arrays.fill(allWins, 1.0);
        WinRates.LcFit wins = WinRates.lengthControlled(allWins, diffs);
        assertTrue(Double.isFinite(wins.theta()) && wins.lcWinRate() > 0.999999, wins.toString());

        // Perfectly separated by length: the judge picks whichever answer is longer.
        double[] longerWins = Arrays.stream(diffs).map(d -> d > 0 ? 1.0 : 0.0).toArray();
        WinRates.LcFit separated = WinRates.lengthControlled(longerWins, diffs);
        assertTrue(Double.isFinite(separated.theta()) && Double.isFinite(separated.phi()), separated.toString());
        assertTrue(separated.phi() > 10, separated.toString());
    }

    @Test
    void refusesBadInput() {
        assertThrows(IllegalArgumentException.class, () -> WinRates.raw(new double[0]));
        assertThrows(IllegalArgumentException.class, () -> WinRates.raw(new double[] {0.5, 1.2}));
        assertThrows(IllegalArgumentException.class, () -> WinRates.raw(new double[] {Double.NaN}));
        assertThrows(IllegalArgumentException.class,
                () -> WinRates.lengthControlled(new double[] {0.5, 0.5}, new double[] {1}));
        assertThrows(IllegalArgumentException.class,
                () -> WinRates.lengthControlled(new double[] {0.5}, new double[] {Double.POSITIVE_INFINITY}));
    }
}
