package dev.dice.algo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PairSelectionTest {

    /** A valid candidate with reward r (logpRef 0) and the given length. */
    static Candidate c(String prompt, int sample, double reward, int length) {
        return new Candidate(prompt, sample, reward, 0.0, length, true);
    }

    static Candidate invalid(String prompt, int sample, double reward, int length) {
        return new Candidate(prompt, sample, reward, 0.0, length, false);
    }

    @Test
    void rewardIsPolicyMinusReferenceLogProbability() {
        assertEquals(-3.5, new Candidate("p", 0, -10.0, -6.5, 4, true).reward(), 0.0);
    }

    @Test
    void chosenIsArgmaxAndRejectedIsArgminOfLengthRegularisedReward() {
        Candidate longGood = c("p", 0, 3.0, 30);
        Candidate middle = c("p", 1, 2.0, 20);
        Candidate shortBad = c("p", 2, 0.0, 10);
        List<Candidate> all = List.of(longGood, middle, shortBad);

        Pair atZero = PairSelection.select(all, 0.0, 2).get(0);
        assertSame(longGood, atZero.chosen());
        assertSame(shortBad, atZero.rejected());
        assertEquals(20, atZero.lengthGap());

        // α = 0.3: r_LR = −6, −4, −3, so the short one is now chosen and the long one rejected.
        Pair penalised = PairSelection.select(all, 0.3, 2).get(0);
        assertSame(shortBad, penalised.chosen());
        assertSame(longGood, penalised.rejected());
        assertEquals(-20, penalised.lengthGap());
    }

    @Test
    void invalidResponsesAreNeverRanked() {
        List<Candidate> all = List.of(invalid("p", 0, 100.0, 5), c("p", 1, 1.0, 5), c("p", 2, 0.0, 5),
                invalid("p", 3, -100.0, 5));
        Pair pair = PairSelection.select(all, 0.0, 2).get(0);
        assertEquals(1, pair.chosen().sample());
        assertEquals(2, pair.rejected().sample());
    }

    @Test
    void promptNeedsMinValidAndAtLeastTwoValidResponses() {
        List<Candidate> twoOfFour = List.of(c("p", 0, 1.0, 5), c("p", 1, 0.0, 5), invalid("p", 2, 0, 5),
                invalid("p", 3, 0, 5));
        assertEquals(1, PairSelection.select(twoOfFour, 0.0, PairSelection.minValidFor(4)).size());
        assertEquals(0, PairSelection.select(twoOfFour, 0.0, 3).size());

        List<Candidate> oneValid = List.of(c("q", 0, 1.0, 5), invalid("q", 1, 0, 5));
        assertEquals(0, PairSelection.select(oneValid, 0.0, 1).size(), "a single valid response makes no pair");
        assertEquals(0, PairSelection.select(oneValid, 0.0, 0).size());
    }

    @Test
    void minValidIsHalfOfKRoundedUp() {
        assertEquals(8, PairSelection.minValidFor(16));
        assertEquals(8, PairSelection.minValidFor(15));
        assertEquals(1, PairSelection.minValidFor(1));
        assertEquals(0, PairSelection.minValidFor(0));
    }

    @Test
    void tiesGoToTheLowerSampleIndexForBothPicks() {
        // Samples 3 and 1 tie for the top, samples 2 and 0 for the bottom; input order is not sample order.
        List<Candidate> all = List.of(c("p", 3, 1.0, 5), c("p", 2, 0.0, 5), c("p", 1, 1.0, 5), c("p", 0, 0.0, 5));
        Pair pair = PairSelection.select(all, 0.0, 2).get(0);
        assertEquals(1, pair.chosen().sample());
        assertEquals(0, pair.rejected().sample());
    }

    @Test
    void promptWhereAllValidResponsesTieIsSkipped() {
        List<Candidate> allTie = List.of(c("p", 0, 1.0, 5), c("p", 1, 1.0, 5), c("p", 2, 1.0, 5));
        assertTrue(PairSelection.select(allTie, 0.0, 2).isEmpty());

        // Equal rewards, different lengths: tied only at α = 0; any α > 0 separates them.
        List<Candidate> tieAtZero = List.of(c("q", 0, 1.0, 10), c("q", 1, 1.0, 20));
        assertTrue(PairSelection.select(tieAtZero, 0.0, 2).isEmpty());
        Pair pair = PairSelection.select(tieAtZero, 0.01, 2).get(0);
        assertEquals(10, pair.chosen().length());
        assertEquals(20, pair.rejected().length());

        // Collinear with slope 0.1 (r = 0.1·len): all tie at α = 0.1 only.
        List<Candidate> collinear = List.of(c("r", 0, 1.0, 10), c("r", 1, 2.0, 20), c("r", 2, 4.0, 40));
        assertEquals(1, PairSelection.select(collinear, 0.05, 2).size());
        assertEquals(1, PairSelection.select(collinear, 0.15, 2).size());
    }

    @Test
    void promptsKeepFirstSeenOrder() {
        List<Candidate> all = List.of(c("b", 0, 1, 1), c("a", 0, 1, 1), c("b", 1, 0, 1), c("c", 0, 2, 1),
                c("a", 1, 0, 1), c("c", 1, 0, 1));
        List<Pair> pairs = PairSelection.select(all, 0.0, 2);
        assertEquals(List.of("b", "a", "c"), pairs.stream().map(Pair::promptId).toList());
    }

    @Test
    void meanLengthGapAveragesChosenMinusRejected() {
        List<Candidate> all = List.of(c("a", 0, 1, 30), c("a", 1, 0, 10), c("b", 0, 1, 10), c("b", 1, 0, 15));
        assertEquals((20 - 5) / 2.0, PairSelection.meanLengthGap(PairSelection.select(all, 0.0, 2)), 0.0);
        assertEquals(0.0, PairSelection.meanLengthGap(List.of()), 0.0);
    }

    @Test
    void refusesNegativeAlphaAndUnscoredValidResponses() {
        List<Candidate> ok = List.of(c("a", 0, 1, 1), c("a", 1, 0, 1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PairSelection.select(ok, -0.1, 2));
        assertTrue(e.getMessage().contains("alpha"));
        assertThrows(IllegalArgumentException.class, () -> PairSelection.select(ok, Double.NaN, 2));

        List<Candidate> nan = List.of(c("a", 0, Double.NaN, 1), c("a", 1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> PairSelection.select(nan, 0.0, 2));
        // An invalid response may be unscored.
        List<Candidate> nanInvalid = List.of(invalid("a", 0, Double.NaN, 1), c("a", 1, 1, 1), c("a", 2, 0, 1));
        assertEquals(1, PairSelection.select(nanInvalid, 0.0, 2).size());
        assertThrows(IllegalArgumentException.class, () -> new Candidate("a", 0, 0, 0, -1, true));
    }
}
