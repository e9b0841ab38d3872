package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Activation;

/** The two training objectives, as functions of the model's per-sequence log-probs. */
public final class Losses {
    private Losses() {}

    /**
     * SFT: mean negative log-likelihood per response token (masked NLL). The rows run packed (same log-probs,
     * no padding); the padded pass is kept for a batch without response tokens, whose loss is 0.
     */
    public static NDArray sft(Llama model, SequenceBatch batch) {
        NDArray sum = batch.responseTokens() == 0 ? batch.responseLogProbs(model).sum()
                : PackedBatch.of(batch, model.config().context()).responseLogProbSum(model);
        return Scalars.div(sum.neg(), Math.max(1, batch.responseTokens()));
    }

    /**
     * Sigmoid DPO: −log σ(β·((log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l)))), averaged over
     * pairs. The reference log-probs are inputs, computed once by whoever scored the pairs, so the step runs
     * one forward pass of the policy and none of the reference; each pair's shared prompt runs once.
     *
     * @param pairs chosen rows first, then the rejected rows in the same pair order
     */
    public static Dpo dpo(Llama model, SequenceBatch pairs, float[] refChosen, float[] refRejected, double beta) {
        int n = refChosen.length;
        NDManager m = model.manager();
        NDArray logp = pairs.sharedPromptLogProbs(model);
        NDArray chosen = logp.get("0:" + n);
        NDArray rejected = logp.get(n + ":");
        NDArray chosenReward = Scalars.mul(chosen.sub(m.create(refChosen)), beta);
        NDArray rejectedReward = Scalars.mul(rejected.sub(m.create(refRejected)), beta);
        NDArray margin = chosenReward.sub(rejectedReward);
        // −log σ(x) = softplus(−x), stable for large |x|
        NDArray loss = Activation.softPlus(margin.neg()).mean();
        return new Dpo(loss, chosenReward, rejectedReward);
    }

    /** The loss and the implicit rewards β·log(π/π_ref) of each side, for logging reward accuracy and margins. */
    public record Dpo(NDArray loss, NDArray chosenReward, NDArray rejectedReward) {}
}
