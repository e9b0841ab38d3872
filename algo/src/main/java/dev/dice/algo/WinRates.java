package dev.dice.algo;

/**
 * Win rates of a policy against a baseline from per-example judge preferences p_i = P(policy ≻ baseline).
 *
 * <p>The length-controlled win rate follows AlpacaEval 2 without the instruction-difficulty term (we have no
 * leaderboard to estimate it from): fit P_i = σ(θ + φ·tanh(Δ_i / σ_Δ)) by maximum likelihood with the p_i as soft
 * labels, Δ_i = len_policy − len_baseline and σ_Δ the sample standard deviation of the Δ_i (pandas' std, as
 * AlpacaEval uses), then report σ(θ): the predicted win rate with the length difference set to zero.
 *
 * <p>The fit adds a ridge of {@value #RIDGE}·(θ² + φ²)/2 to the mean cross-entropy. It is needed only for
 * degenerate inputs where the maximum likelihood lies at infinity (the judge prefers the same side on every
 * example, or the preference is perfectly separated by length); there it keeps θ and φ finite (e.g. all p = 1 gives
 * θ ≈ 18, σ(θ) ≈ 1 − 2e−8). On ordinary data it moves θ and φ by far less than 1e−6.
 */
public final class WinRates {

    static final double RIDGE = 1e-9;
    private static final int MAX_NEWTON_STEPS = 200;

    private WinRates() {}

    /**
     * @param lcWinRate σ(θ), the win rate at zero length difference
     * @param theta     the model term
     * @param phi       the length term's weight (0 when σ_Δ = 0)
     * @param sigma     σ_Δ, the scale the length differences were divided by (0: length term dropped)
     */
    public record LcFit(double lcWinRate, double theta, double phi, double sigma) {}

    /** The raw win rate: mean of p_i. */
    public static double raw(double[] p) {
        checkPreferences(p);
        return Stats.mean(p);
    }

    public static LcFit lengthControlled(double[] p, double[] lengthDiff) {
        checkPreferences(p);
        if (lengthDiff.length != p.length) {
            throw new IllegalArgumentException("need one length difference per preference, got " + lengthDiff.length
                    + " for " + p.length);
        }
        for (int i = 0; i < lengthDiff.length; i++) {
            if (!Double.isFinite(lengthDiff[i])) {
                throw new IllegalArgumentException("lengthDiff[" + i + "] is not finite: " + lengthDiff[i]);
            }
        }
        double sigma = Stats.sampleStd(lengthDiff);
        // With σ_Δ = 0 all length differences are equal and cannot be told apart from θ: drop the term by using a
        // zero feature; the ridge then keeps φ at exactly 0.
        double[] t = new double[p.length];
        if (sigma > 0) {
            for (int i = 0; i < t.length; i++) {
                t[i] = Math.tanh(lengthDiff[i] / sigma);
            }
        }
        double[] w = fitLogistic(p, t);
        return new LcFit(sigmoid(w[0]), w[0], w[1], sigma);
    }

    /** Newton's method with backtracking on the penalised soft-label cross-entropy; returns {θ, φ}. */
    private static double[] fitLogistic(double[] p, double[] t) {
        int n = p.length;
        double theta = 0;
        double phi = 0;
        for (int step = 0; step < MAX_NEWTON_STEPS; step++) {
            double g0 = RIDGE * theta;
            double g1 = RIDGE * phi;
            double h00 = RIDGE;
            double h01 = 0;
            double h11 = RIDGE;
            for (int i = 0; i < n; i++) {
                double s = sigmoid(theta + phi * t[i]);
                double residual = (s - p[i]) / n;
                double curvature = s * (1 - s) / n;
                g0 += residual;
                g1 += residual * t[i];
                h00 += curvature;
                h01 += curvature * t[i];
                h11 += curvature * t[i] * t[i];
            }
            double det = h00 * h11 - h01 * h01;
            double d0 = -(h11 * g0 - h01 * g1) / det;
            double d1 = -(h00 * g1 - h01 * g0) / det;
            double slope = g0 * d0 + g1 * d1; // = −(Newton decrement)², < 0 unless converged
            if (-slope / 2 < 1e-20) {
                break;
            }
            double size = 1.0;
            if (-slope > 1e-10) {
                // Far from the optimum: backtrack so every step lowers the loss. Close to it, the full Newton step is
                // right and the loss change would drown in rounding, so no line search there.
                double before = loss(p, t, theta, phi);
                while (loss(p, t, theta + size * d0, phi + size * d1) > before + 1e-4 * size * slope) {
                    size /= 2;
                    if (size < 1e-12) {
                        return new double[] {theta, phi}; // no decrease at this precision: as converged as it gets
                    }
                }
            }
            theta += size * d0;
            phi += size * d1;
        }
        return new double[] {theta, phi};
    }

    /** Mean soft-label cross-entropy plus the ridge, written with softplus to stay finite for large |z|. */
    private static double loss(double[] p, double[] t, double theta, double phi) {
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            double z = theta + phi * t[i];
            sum += softplus(z) - p[i] * z; // = −p·log σ(z) − (1 − p)·log(1 − σ(z))
        }
        return sum / p.length + RIDGE * (theta * theta + phi * phi) / 2;
    }

    private static double softplus(double z) {
        return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
    }

    static double sigmoid(double z) {
        return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    }

    private static void checkPreferences(double[] p) {
        if (p.length == 0) {
            throw new IllegalArgumentException("no preferences");
        }
        for (int i = 0; i < p.length; i++) {
            if (!(p[i] >= 0 && p[i] <= 1)) {
                throw new IllegalArgumentException("p[" + i + "] must be a probability in [0, 1], got " + p[i]);
            }
        }
    }
}
