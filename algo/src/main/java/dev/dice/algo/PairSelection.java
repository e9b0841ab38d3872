package dev.dice.algo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Length-regularised pair selection: per prompt, chosen = argmax and rejected = argmin of
 * r_LR = reward − α·length over the prompt's valid responses.
 *
 * <p>A prompt is used only if it has at least {@code max(minValid, 2)} valid responses, and only if its
 * chosen and rejected are different responses (they coincide only when every valid response has the same r_LR).
 *
 * <p>Ties in r_LR are broken the same way for argmax and argmin: the lower sample index wins, then the
 * earlier position in the input. Simple and deterministic; when all valid responses tie, both picks land on the
 * same response and the prompt is skipped, which is what we want (no preference signal).
 */
public final class PairSelection {

    private PairSelection() {}

    /** The method's per-prompt minimum of valid responses for K samples per prompt: K/2 rounded up. */
    public static int minValidFor(int samplesPerPrompt) {
        return (samplesPerPrompt + 1) / 2;
    }

    /** Pairs at the given α, one per usable prompt, prompts in first-seen order. */
    public static List<Pair> select(List<Candidate> candidates, double alpha, int minValid) {
        if (!(alpha >= 0) || Double.isInfinite(alpha)) {
            throw new IllegalArgumentException("alpha must be finite and >= 0, got " + alpha);
        }
        List<Pair> pairs = new ArrayList<>();
        for (Map.Entry<String, List<Candidate>> prompt : byPrompt(candidates).entrySet()) {
            List<Candidate> valid = usableValid(prompt.getValue(), minValid);
            if (valid.isEmpty()) {
                continue;
            }
            int best = 0;
            int worst = 0;
            for (int i = 1; i < valid.size(); i++) {
                double score = lengthRegularised(valid.get(i), alpha);
                double bestScore = lengthRegularised(valid.get(best), alpha);
                double worstScore = lengthRegularised(valid.get(worst), alpha);
                if (score > bestScore || (score == bestScore && valid.get(i).sample() < valid.get(best).sample())) {
                    best = i;
                }
                if (score < worstScore || (score == worstScore && valid.get(i).sample() < valid.get(worst).sample())) {
                    worst = i;
                }
            }
            if (best != worst) {
                pairs.add(new Pair(prompt.getKey(), valid.get(best), valid.get(worst)));
            }
        }
        return pairs;
    }

    /**
     * Mean of |y_chosen| − |y_rejected| over the pairs; 0 for no pairs (no pairs, no length imbalance).
     * Summed as a long and divided once, so equal sums give bit-identical means (AlphaSearch relies on this).
     */
    public static double meanLengthGap(List<Pair> pairs) {
        if (pairs.isEmpty()) {
            return 0.0;
        }
        long sum = 0;
        for (Pair pair : pairs) {
            sum += pair.lengthGap();
        }
        return (double) sum / pairs.size();
    }

    /** r_LR(x, y) = r(x, y) − α·|y|. */
    static double lengthRegularised(Candidate c, double alpha) {
        return c.reward() - alpha * c.length();
    }

    /** Candidates grouped by prompt: prompts in first-seen order, each prompt's candidates in input order. */
    static Map<String, List<Candidate>> byPrompt(List<Candidate> candidates) {
        Map<String, List<Candidate>> groups = new LinkedHashMap<>();
        for (Candidate c : candidates) {
            groups.computeIfAbsent(c.promptId(), k -> new ArrayList<>()).add(c);
        }
        return groups;
    }

    /**
     * The valid responses of one prompt if the prompt has enough of them (at least max(minValid, 2)), else an
     * empty list. Shared with AlphaSearch so that both agree on which prompts are usable.
     */
    static List<Candidate> usableValid(List<Candidate> prompt, int minValid) {
        List<Candidate> valid = new ArrayList<>();
        for (Candidate c : prompt) {
            if (!c.valid()) {
                continue;
            }
            if (!Double.isFinite(c.reward())) {
                // A NaN would silently corrupt every comparison below; a valid response must have been scored.
                throw new IllegalArgumentException("valid candidate has a non-finite reward: prompt " + c.promptId()
                        + ", sample " + c.sample() + ", logpPolicy " + c.logpPolicy() + ", logpRef " + c.logpRef());
            }
            valid.add(c);
        }
        return valid.size() >= Math.max(minValid, 2) ? valid : List.of();
    }
}
