package dev.dice.cli;

import ai.djl.ndarray.NDArray;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import java.util.Map;

/**
 * Rewrites a random model so that, sampled at temperature T, it draws one token, its end of turn, with probability
 * about 1/N at every step, and every other token about uniformly. Hidden dimension 0 is made a constant: every token embeds 4 there, so the
 * residual stream's dimension 0 stays large and positive through the layers; the final norm keeps only that dimension,
 * where it is about sqrt(hidden_size); the output row of the end-of-turn token then gets the weight that lifts its
 * logit by T·ln(V / (N − 1)) over the others. A plumbing aid for trying a release's layout without its weights.
 */
final class EndOfTurnBias {
    private static final float CONSTANT = 4f;

    private EndOfTurnBias() {}

    static void apply(Llama model, int endOfTurn, int every, double temperature) {
        LlamaConfig c = model.config();
        Map<String, NDArray> p = model.parameters();
        int hidden = c.hiddenSize();
        double h0 = Math.sqrt(hidden); // the final norm's output in dimension 0: x0 / rms(x) with x0 dominating
        double lift = temperature * Math.log((double) c.vocabSize() / Math.max(1, every - 1)) / h0;

        float[] embed = p.get("model.embed_tokens.weight").toFloatArray();
        for (int v = 0; v < c.vocabSize(); v++) {
            embed[v * hidden] = CONSTANT;
        }
        float[] norm = new float[hidden];
        norm[0] = 1f;
        p.get("model.norm.weight").set(norm);
        if (c.tieWordEmbeddings()) {
            embed[endOfTurn * hidden] += (float) lift;
        } else {
            float[] head = p.get("lm_head.weight").toFloatArray();
            head[endOfTurn * hidden] = (float) lift;
            p.get("lm_head.weight").set(head);
        }
        p.get("model.embed_tokens.weight").set(embed);
    }
}
