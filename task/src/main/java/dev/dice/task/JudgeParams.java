package dev.dice.task;

/**
 * The hidden judge's parameters: P(a ≻ b) = σ((q_a − q_b)/τ + λ·(len_a − len_b)/σ_len).
 * They are fixed before any experiment and reported with its results; they are not knobs to tune toward one.
 *
 * @param tau      quality temperature τ: a quality gap of τ moves the logit by 1
 * @param lambda   length bias λ: how much the judge, like GPT-4, favours the longer response
 * @param sigmaLen length scale σ_len in characters
 */
public record JudgeParams(double tau, double lambda, double sigmaLen) {

    /** τ = 0.1, λ = 0.5, σ_len = 10 characters, as in the miniature trials (embedded-task.md). */
    public static final JudgeParams DEFAULTS = new JudgeParams(0.1, 0.5, 10.0);

    public JudgeParams {
        if (!(tau > 0) || !(sigmaLen > 0) || !(lambda >= 0)) {
            throw new IllegalArgumentException("judge needs tau > 0, sigmaLen > 0, lambda >= 0; got tau=" + tau
                    + " lambda=" + lambda + " sigmaLen=" + sigmaLen);
        }
    }

    @Override
    public String toString() {
        return "tau=" + tau + " lambda=" + lambda + " sigma_len=" + sigmaLen + " chars";
    }
}
