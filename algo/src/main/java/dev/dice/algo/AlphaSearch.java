package dev.dice.algo;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The exact α* = argmin over α ≥ 0 of |mean over D(α) of (|y_chosen| − |y_rejected|)|, found by sweeping breakpoints
 * instead of scanning a grid.
 *
 * <p>Why a sweep is exact: a prompt's chosen (argmax of r − α·len) and rejected (argmin) only change where two of
 * its lines r_i − α·len_i cross, α = (r_i − r_j)/(len_i − len_j). Between consecutive breakpoints (over all
 * prompts) every selection, hence the mean gap, is constant. So we walk each prompt's upper envelope (the chosen
 * response, moving to shorter ones as α grows) and lower envelope (the rejected, moving to longer ones), emit an
 * event (α, change of that prompt's gap) at each change, sort all events, and update the gap sum incrementally.
 * Cost: O(K²) per prompt for the envelope walks plus one sort of at most 2(K−1) events per prompt.
 *
 * <p>Candidates for α*: the point α = 0 itself, and every open interval between consecutive breakpoints (the last
 * one unbounded). An interval is represented by its midpoint, or by last breakpoint + 1 for the unbounded one, so
 * the selection at the returned α is unambiguous (no two lines of a prompt tie there, other than exact duplicates,
 * which have the same length). Breakpoints themselves are not candidates: the selection there depends on the
 * tie-break and, in floating point, on rounding. α = 0 is a candidate because it involves no rounding and is the
 * natural "no length penalty" answer; it also wins when lengths never matter (for example all equal).
 * Ties between candidates go to the smallest α.
 *
 * <p>D(α) has the same semantics as {@link PairSelection#select} at that α: the usable prompts do not depend on
 * α (validity does not), except that a prompt whose valid responses all have the same r_LR is skipped. On an open
 * interval that happens only if they are all identical in (reward, length); at α = 0 also if all rewards are
 * equal. That is why the gap at α = 0 is computed by PairSelection itself.
 */
public final class AlphaSearch {

    private AlphaSearch() {}

    /**
     * @param alpha         the chosen α*
     * @param meanGap       mean |y_chosen| − |y_rejected| over D(alpha)
     * @param meanGapAtZero the same at α = 0 (no length regularisation), for the report
     * @param intervals     how many open intervals between breakpoints were evaluated (besides the point α = 0)
     */
    public record Result(double alpha, double meanGap, double meanGapAtZero, int intervals) {}

    /** A prompt's chosen or rejected response changes at {@code alpha}, changing its length gap by {@code gapChange}. */
    private record Event(double alpha, int gapChange) {}

    public static Result search(List<Candidate> candidates, int minValid) {
        List<Event> events = new ArrayList<>();
        long gapSum = 0; // sum of gaps over D on the first interval (0, first breakpoint)
        int used = 0;    // |D(α)| on every open interval
        for (List<Candidate> prompt : PairSelection.byPrompt(candidates).values()) {
            List<Candidate> valid = PairSelection.usableValid(prompt, minValid);
            if (valid.isEmpty() || allIdentical(valid)) {
                continue;
            }
            double[] reward = new double[valid.size()];
            int[] length = new int[valid.size()];
            for (int i = 0; i < reward.length; i++) {
                reward[i] = valid.get(i).reward();
                length[i] = valid.get(i).length();
            }
            int chosen = chosenJustAboveZero(reward, length);
            int rejected = rejectedJustAboveZero(reward, length);
            gapSum += length[chosen] - length[rejected];
            used++;
            addChosenChanges(reward, length, chosen, events);
            addRejectedChanges(reward, length, rejected, events);
        }

        List<Pair> pairsAtZero = PairSelection.select(candidates, 0.0, minValid);
        double gapAtZero = PairSelection.meanLengthGap(pairsAtZero);
        if (used == 0) {
            return new Result(0.0, 0.0, gapAtZero, 1);
        }

        events.sort(Comparator.comparingDouble(Event::alpha));
        // Sweep the open intervals (lo, hi); comparing |sum| is enough because |D| is the same on all of them.
        long sum = gapSum;
        double lo = 0.0;
        long bestAbs = Long.MAX_VALUE;
        long bestSum = 0;
        double bestAlpha = 0.0;
        int intervals = 0;
        int i = 0;
        while (true) {
            double hi = i < events.size() ? events.get(i).alpha() : Double.POSITIVE_INFINITY;
            if (hi > lo) { // zero width only if a crossing rounded to 0; such an interval is never realised
                intervals++;
                if (Math.abs(sum) < bestAbs) {
                    bestAbs = Math.abs(sum);
                    bestSum = sum;
                    bestAlpha = hi == Double.POSITIVE_INFINITY ? lo + 1.0 : lo + (hi - lo) / 2;
                }
            }
            if (i == events.size()) {
                break;
            }
            lo = hi;
            while (i < events.size() && events.get(i).alpha() == lo) {
                sum += events.get(i).gapChange();
                i++;
            }
        }

        double bestGap = (double) bestSum / used;
        // α = 0 is the smallest candidate, so it wins ties; an empty D(0) is no answer when D(α) is not empty.
        if (!pairsAtZero.isEmpty() && Math.abs(gapAtZero) <= Math.abs(bestGap)) {
            return new Result(0.0, gapAtZero, gapAtZero, intervals);
        }
        return new Result(bestAlpha, bestGap, gapAtZero, intervals);
    }

    private static boolean allIdentical(List<Candidate> valid) {
        Candidate first = valid.get(0);
        for (Candidate c : valid) {
            if (c.reward() != first.reward() || c.length() != first.length()) {
                return false;
            }
        }
        return true;
    }

    /** Argmax of r − α·len for α just above 0: the highest reward; among equal rewards the shortest wins once α > 0. */
    private static int chosenJustAboveZero(double[] reward, int[] length) {
        int best = 0;
        for (int j = 1; j < reward.length; j++) {
            if (reward[j] > reward[best] || (reward[j] == reward[best] && length[j] < length[best])) {
                best = j;
            }
        }
        return best;
    }

    /** Argmin of r − α·len for α just above 0: the lowest reward; among equal rewards the longest loses once α > 0. */
    private static int rejectedJustAboveZero(double[] reward, int[] length) {
        int worst = 0;
        for (int j = 1; j < reward.length; j++) {
            if (reward[j] < reward[worst] || (reward[j] == reward[worst] && length[j] > length[worst])) {
                worst = j;
            }
        }
        return worst;
    }

    /**
     * Walks the upper envelope: as α grows only a shorter response can overtake the current argmax; the next argmax is
     * the one that crosses first (ties: the shortest, which stays on top afterwards). Each step shortens the chosen
     * response, so the walk ends after fewer than K steps.
     */
    private static void addChosenChanges(double[] reward, int[] length, int current, List<Event> out) {
        double at = 0.0;
        while (true) {
            int next = -1;
            double nextAt = Double.POSITIVE_INFINITY;
            for (int j = 0; j < reward.length; j++) {
                if (length[j] >= length[current]) {
                    continue;
                }
                // max(at, ·) keeps events ordered if rounding puts a crossing a hair before the previous one.
                double cross = Math.max(at, (reward[current] - reward[j]) / (length[current] - length[j]));
                if (cross < nextAt || (cross == nextAt && length[j] < length[next])) {
                    next = j;
                    nextAt = cross;
                }
            }
            if (next < 0) {
                return;
            }
            out.add(new Event(nextAt, length[next] - length[current])); // chosen got shorter: gap shrinks
            current = next;
            at = nextAt;
        }
    }

    /** Walks the lower envelope: the mirror image of {@link #addChosenChanges}, moving to longer responses. */
    private static void addRejectedChanges(double[] reward, int[] length, int current, List<Event> out) {
        double at = 0.0;
        while (true) {
            int next = -1;
            double nextAt = Double.POSITIVE_INFINITY;
            for (int j = 0; j < reward.length; j++) {
                if (length[j] <= length[current]) {
                    continue;
                }
                double cross = Math.max(at, (reward[j] - reward[current]) / (length[j] - length[current]));
                if (cross < nextAt || (cross == nextAt && length[j] > length[next])) {
                    next = j;
                    nextAt = cross;
                }
            }
            if (next < 0) {
                return;
            }
            out.add(new Event(nextAt, -(length[next] - length[current]))); // rejected got longer: gap shrinks
            current = next;
            at = nextAt;
        }
    }
}
