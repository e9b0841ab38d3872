package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.List;

/**
 * Prompt + response rows, right-padded into one [B, T] batch, and which next-token targets belong to the
 * response. Right padding keeps every real token at its natural position, so a row's log-probs do not
 * depend on the rest of the batch; pad tokens sit after the row and a causal mask never lets real tokens
 * see them.
 */
public record SequenceBatch(long[] tokens, int rows, int length, float[] responseMask) {

    public static SequenceBatch of(List<int[]> prompts, List<int[]> responses, int padId) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + responses.size() + " responses");
        }
        int rows = prompts.size();
        int length = 2;
        for (int i = 0; i < rows; i++) {
            length = Math.max(length, prompts.get(i).length + responses.get(i).length);
        }
        long[] tokens = new long[rows * length];
        java.util.Arrays.fill(tokens, padId);
        float[] mask = new float[rows * (length - 1)];
        for (int i = 0; i < rows; i++) {
            int[] prompt = prompts.get(i);
            int[] response = responses.get(i);
            for (int j = 0; j < prompt.length; j++) {
                tokens[i * length + j] = prompt[j];
            }
            for (int j = 0; j < response.length; j++) {
                tokens[i * length + prompt.length + j] = response[j];
                // target index t predicts token t + 1
                mask[i * (length - 1) + prompt.length + j - 1] = 1f;
            }
        }
        return new SequenceBatch(tokens, rows, length, mask);
    }

    /** Summed log π(response | prompt) per row, [B]; differentiable when autograd is recording. */
    public NDArray responseLogProbs(Llama model) {
        NDManager m = model.manager();
        NDArray all = m.create(tokens, new Shape(rows, length));
        NDArray input = all.get(":, :-1");
        NDArray target = all.get(":, 1:");
        long t = length - 1;
        NDArray positions = m.arange(0L, t, 1L, ai.djl.ndarray.types.DataType.INT64).reshape(1, t);
        NDArray logits = model.forward(input, positions, Masks.causal(m, (int) t), null);
        NDArray logp = logits.logSoftmax(-1).gather(target.expandDims(-1), -1).squeeze(-1);
        return logp.mul(m.create(responseMask, new Shape(rows, t))).sum(new int[] {1});
    }

    /** Number of response tokens in the batch. */
    public int responseTokens() {
        int n = 0;
        for (float f : responseMask) {
            n += (int) f;
        }
        return n;
    }
}
