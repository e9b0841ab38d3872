package dev.dice.task;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * The offline preference set D_off, built like UltraFeedback: several responses of clearly different quality per
 * prompt, the judge's winner as chosen and a random other as rejected. Because the judge is length-biased, the
 * chosen responses are longer on average — the bias DICE's length regularisation later has to undo.
 *
 * @param pairs one pair per usable prompt, in prompt order
 * @param stats how well the pairs agree with the hidden quality, for the run log
 */
public record OfflinePairs(List<OfflinePair> pairs, Stats stats) {

    /**
     * @param prompts       prompts offered
     * @param pairs         pairs built (a prompt whose candidates are all identical gives none)
     * @param chosenBetter  fraction of pairs whose chosen response has higher true quality than the rejected
     * @param chosenWorse   fraction with lower true quality
     * @param tied          fraction with equal true quality
     * @param meanLengthGap mean of |chosen| − |rejected| in characters
     */
    public record Stats(int prompts, int pairs, double chosenBetter, double chosenWorse, double tied,
                        double meanLengthGap) {

        @Override
        public String toString() {
            return String.format("D_off: %d pairs from %d prompts; chosen better on q %.3f, worse %.3f, tied %.3f;"
                    + " chosen longer by %.2f chars on average", pairs, prompts, chosenBetter, chosenWorse, tied,
                    meanLengthGap);
        }
    }

    /** D_off from the synthetic generators alone. */
    public static OfflinePairs build(BuiltinTask task, Judge judge, List<Prompt> prompts, SplittableRandom rng) {
        return build(task, judge, prompts, p -> List.of(), rng);
    }

    /**
     * D_off from the synthetic generators plus {@code extraResponses} per prompt (e.g. a sample of the SFT model).
     * Extra responses must be complete: drop the ones cut off at the token limit before passing them.
     */
    public static OfflinePairs build(BuiltinTask task, Judge judge, List<Prompt> prompts,
                                     Function<Prompt, List<String>> extraResponses, SplittableRandom rng) {
        List<OfflinePair> pairs = new ArrayList<>();
        int better = 0;
        int worse = 0;
        double lengthGap = 0;
        for (Prompt p : prompts) {
            List<String> candidates = new ArrayList<>(task.offlineCandidates(p, rng));
            candidates.addAll(extraResponses.apply(p));
            String chosen = candidates.get(tournamentWinner(judge, p, candidates, rng));
            List<String> others = candidates.stream().filter(c -> !c.equals(chosen)).toList();
            if (others.isEmpty()) {
                continue; // identical responses teach DPO nothing
            }
            String rejected = others.get(rng.nextInt(others.size()));
            pairs.add(new OfflinePair(p.id(), p.text(), chosen, rejected));

            double gap = judge.quality(p, chosen) - judge.quality(p, rejected);
            better += gap > 0 ? 1 : 0;
            worse += gap < 0 ? 1 : 0;
            lengthGap += chosen.length() - rejected.length();
        }
        int n = Math.max(1, pairs.size());
        int tied = pairs.size() - better - worse;
        Stats stats = new Stats(prompts.size(), pairs.size(), (double) better / n, (double) worse / n,
                (double) tied / n, lengthGap / n);
        return new OfflinePairs(List.copyOf(pairs), stats);
    }

    /**
     * A round robin: the judge compares every two candidates once (sampled, as a rater would) and the candidate
     * with the most wins is chosen, ties broken at random.
     */
    static int tournamentWinner(Judge judge, Prompt p, List<String> candidates, SplittableRandom rng) {
        int[] wins = new int[candidates.size()];
        for (int i = 0; i < candidates.size(); i++) {
            for (int j = i + 1; j < candidates.size(); j++) {
                boolean iWins = judge.prefers(p, candidates.get(i), candidates.get(j), rng);
                wins[iWins ? i : j]++;
            }
        }
        int best = -1;
        int ties = 0;
        for (int i = 0; i < wins.length; i++) {
            if (best < 0 || wins[i] > wins[best]) {
                best = i;
                ties = 1;
            } else if (wins[i] == wins[best] && rng.nextInt(++ties) == 0) {
                best = i; // reservoir choice: each tied leader equally likely
            }
        }
        return best;
    }
}
