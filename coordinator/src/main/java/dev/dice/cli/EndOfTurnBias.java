package dev.dice.cli;

import ai.djl.ndarray.NDArray;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Rewrites a random model so that, sampled at temperature T, it draws one token, its end of turn, with probability
 * about 1/N at every step, and every other token about uniformly. Hidden dimension 0 is made a constant: every token
 * embeds {@value #CONSTANT} there, so the residual stream's dimension 0 dominates through the layers; the final norm
 * keeps only that dimension; the output row of the end-of-turn token (its embedding row, when the head is tied) then
 * gets the weight that lifts its logit by T·ln((V − 1) / (N − 1)) over the others. How far a unit of that weight lifts
 * the logit depends on the depth and width, so it is measured once with a forward pass and the weight scaled to it.
 * A plumbing aid for trying a release's layout without its weights.
 */
final class EndOfTurnBias {
    /** Small enough that bf16 still resolves the lift added to it in a tied embedding. */
    private static final float CONSTANT = 16f;

    private EndOfTurnBias() {}

    static void apply(Llama model, int endOfTurn, int every, double temperature) {
        LlamaConfig c = model.config();
        int hidden = c.hiddenSize();
        Map<String, NDArray> p = model.parameters();
        float[] embed = p.get("model.embed_tokens.weight").toFloatArray();
        for (int v = 0; v < c.vocabSize(); v++) {
            embed[v * hidden] = CONSTANT;
        }
        p.get("model.embed_tokens.weight").set(embed);
        float[] norm = new float[hidden];
        norm[0] = 1f;
        p.get("model.norm.weight").set(norm);

        double target = temperature * Math.log((c.vocabSize() - 1.0) / Math.max(1, every - 1));
        double trial = target / Math.sqrt(hidden);
        lift(model, endOfTurn, trial);
        double measured = logitGap(model, endOfTurn);
        lift(model, endOfTurn, trial * target / measured);
    }

    /** Sets the end-of-turn token's weight in dimension 0 to {@code amount} above the other tokens'. */
    private static void lift(Llama model, int endOfTurn, double amount) {
        int hidden = model.config().hiddenSize();
        String name = model.config().tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight";
        float[] weights = model.parameters().get(name).toFloatArray();
        weights[endOfTurn * hidden] = (float) ((model.config().tieWordEmbeddings() ? CONSTANT : 0) + amount);
        model.parameters().get(name).set(weights);
    }

    /** The end-of-turn logit minus the others' (nearly equal) logits, from its probability after random tokens. */
    private static double logitGap(Llama model, int endOfTurn) {
        SplittableRandom rng = new SplittableRandom(7);
        int[] ids = new int[17];
        for (int i = 0; i < 16; i++) {
            do {
                ids[i] = rng.nextInt(model.config().vocabSize());
            } while (ids[i] == endOfTurn);
        }
        ids[16] = endOfTurn;
        double[] logp = model.nextTokenLogProbs(ids);
        double p = Math.exp(logp[logp.length - 1]);
        return Math.log(p * (model.config().vocabSize() - 1) / (1 - p));
    }
}
