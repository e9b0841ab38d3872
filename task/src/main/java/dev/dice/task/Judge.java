package dev.dice.task;

import dev.dice.algo.EditDistance;
import java.util.SplittableRandom;

/**
 * The hidden judge, this task's analogue of GPT-4 in AlpacaEval: it knows the answers, measures true quality
 * q, and prefers the better response with a bias toward the longer one. Training code never sees q; only
 * evaluation and diagnostics (the accuracy of generated pairs against q) may.
 */
public final class Judge {

    private final JudgeParams params;

    public Judge() {
        this(JudgeParams.DEFAULTS);
    }

    public Judge(JudgeParams params) {
        this.params = params;
    }

    public JudgeParams params() {
        return params;
    }

    /** True quality of a complete response; see {@link #quality(Prompt, String, boolean)}. */
    public double quality(Prompt p, String response) {
        return quality(p, response, true);
    }

    /**
     * True quality in [0, 1]: 1 − (edit distance / longer length) between the correct answer and the response
     * with its filler stripped. 0 for an empty core, and 0 for a response cut off at the token limit
     * ({@code complete == false}), whose content the judge cannot trust.
     */
    public double quality(Prompt p, String response, boolean complete) {
        if (!complete) {
            return 0;
        }
        String core = Filler.strip(response);
        if (core.isEmpty()) {
            return 0;
        }
        int longer = Math.max(core.length(), p.answer().length());
        return 1.0 - (double) EditDistance.levenshtein(core, p.answer()) / longer;
    }

    /** P(a ≻ b) for two complete responses. */
    public double preference(Prompt p, String a, String b) {
        return preference(quality(p, a), a.length(), quality(p, b), b.length());
    }

    /**
     * P(a ≻ b) = σ((q_a − q_b)/τ + λ·(len_a − len_b)/σ_len), lengths in characters of the whole response
     * (filler included: that is where the length bias bites). Antisymmetric: P(a ≻ b) = 1 − P(b ≻ a).
     */
    public double preference(double qualityA, int lengthA, double qualityB, int lengthB) {
        double logit = (qualityA - qualityB) / params.tau()
                + params.lambda() * (lengthA - lengthB) / params.sigmaLen();
        return 1.0 / (1.0 + Math.exp(-logit));
    }

    /** One sampled judgement: true if the judge picks a over b. */
    public boolean prefers(Prompt p, String a, String b, SplittableRandom rng) {
        return rng.nextDouble() < preference(p, a, b);
    }
}
