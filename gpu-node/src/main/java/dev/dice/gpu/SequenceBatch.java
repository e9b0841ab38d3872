package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

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
        int t = length - 1;
        NDArray all = m.create(tokens, new Shape(rows, length));
        NDArray positions = m.arange(0L, t, 1L, DataType.INT64).reshape(1, t);
        NDArray hidden = model.hidden(all.get(":, :-1"), positions, Masks.causal(m, t), null);
        // The head and log-softmax run only from the first position any row scores: prompts are not scored.
        int from = Math.min(firstTarget(), t - 1);
        float[] mask = new float[rows * (t - from)];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(responseMask, i * t + from, mask, i * (t - from), t - from);
        }
        return targetLogProbs(model, hidden.get(":, " + from + ":"), all.get(":, " + (from + 1) + ":"),
                m.create(mask, new Shape(rows, t - from)));
    }

    /**
     * {@link #responseLogProbs}, each distinct prompt run through the model once: the rows that share it (a DPO pair's
     * chosen and rejected, a prompt's K sampled responses) attend to its cached keys and values. Same log-probs, with
     * fewer positions the more rows share a prompt. Falls back to {@link #responseLogProbs} when no two rows share
     * one.
     */
    public NDArray sharedPromptLogProbs(Llama model) {
        int[] prompt = promptLengths();
        int[] group = new int[rows]; // row -> its distinct prompt
        List<Integer> firstRows = new ArrayList<>(); // distinct prompt -> the first row that holds it
        Map<String, Integer> seen = new HashMap<>();
        boolean everyPromptCached = true; // a prompt of one token leaves no prefix to cache
        for (int i = 0; i < rows; i++) {
            everyPromptCached &= prompt[i] >= 2;
            int row = i;
            group[i] = seen.computeIfAbsent(Arrays.toString(Arrays.copyOfRange(tokens, i * length, i * length
                    + prompt[i])), key -> {
                        firstRows.add(row);
                        return firstRows.size() - 1;
                    });
        }
        // A checkpointed model recomputes layers from their inputs, which a pass over a cached prefix does not have.
        if (!everyPromptCached || firstRows.size() == rows || model.checkpointsActivations()) {
            return responseLogProbs(model);
        }
        NDManager m = model.manager();
        int distinct = firstRows.size();
        // Prefix pass: each distinct prompt except its last token, which starts the response pass so that every
        // position of that pass predicts a response token.
        int width = 0;
        for (int r : firstRows) {
            width = Math.max(width, prompt[r] - 1);
        }
        long[] prefix = new long[distinct * width];
        for (int u = 0; u < distinct; u++) {
            int r = firstRows.get(u);
            System.arraycopy(tokens, r * length, prefix, u * width, prompt[r] - 1);
        }
        // Response pass, packed: each response from its prompt's last token on (so every position predicts a response
        // token), seeing the prompt's cached keys and its own earlier tokens only; responses of one prompt share a row
        // of the pass where they fit (ResponsePacking), so short ones do not each take a row as wide as the longest.
        int[] targets = new int[rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < length - 1; j++) {
                targets[i] += (int) responseMask[i * (length - 1) + j];
            }
        }
        ResponsePacking packing = ResponsePacking.of(group, targets);
        int packed = packing.rows();
        int steps = packing.width();
        long[] input = new long[packed * steps];
        long[] target = new long[packed * steps];
        long[] positions = new long[packed * steps];
        int[] segment = new int[packed * steps];
        Arrays.fill(segment, -1);
        float[] rowMask = new float[rows * steps];
        int[] visible = new int[packed];
        for (int i = 0; i < rows; i++) {
            visible[packing.rowOf()[i]] = prompt[i] - 1;
            for (int j = 0; j < targets[i]; j++) {
                int at = prompt[i] - 1 + j; // index into the row's inputs
                int slot = packing.rowOf()[i] * steps + packing.offset()[i] + j;
                input[slot] = tokens[i * length + at];
                target[slot] = tokens[i * length + at + 1];
                positions[slot] = at;
                segment[slot] = i;
                rowMask[i * steps + packing.offset()[i] + j] = 1f;
            }
        }
        try (KvCache cache = new KvCache()) {
            model.hidden(m.create(prefix, new Shape(distinct, width)),
                    m.arange(0L, width, 1L, DataType.INT64).reshape(1, width), Masks.causal(m, width), cache);
            cache.keepRows(packing.promptOf());
            NDArray hidden = model.hidden(m.create(input, new Shape(packed, steps)),
                    m.create(positions, new Shape(packed, steps)), Masks.packedAfterPrefix(m, visible, width,
                            segment, steps), cache);
            NDArray logp = tokenLogProbs(model, hidden, m.create(target, new Shape(packed, steps)));
            // Each response's sum over its own segment of its packed row.
            NDArray perRow = logp.get(new NDIndex("{}", m.create(Arrays.stream(packing.rowOf()).asLongStream()
                    .toArray())));
            return perRow.mul(m.create(rowMask, new Shape(rows, steps))).sum(new int[] {1});
        }
    }

    /** Σ over positions of log p(target)·mask, per row. */
    private static NDArray targetLogProbs(Llama model, NDArray hidden, NDArray targets, NDArray mask) {
        return tokenLogProbs(model, hidden, targets).mul(mask).sum(new int[] {1});
    }

    /** log p(target) at every position, [B, T]: the head over [B, T, C] hidden states, log-softmax, gather. */
    private static NDArray tokenLogProbs(Llama model, NDArray hidden, NDArray targets) {
        return model.head(hidden).logSoftmax(-1).gather(targets.expandDims(-1), -1).squeeze(-1);
    }

    private int firstTarget() {
        int t = length - 1;
        int first = t;
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < Math.min(first, t); j++) {
                if (responseMask[i * t + j] != 0) {
                    first = j;
                    break;
                }
            }
        }
        return first;
    }

    /** Prompt length of each row (its first target's index + 1), or 0 for a row without a response. */
    private int[] promptLengths() {
        int t = length - 1;
        int[] prompt = new int[rows];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < t; j++) {
                if (responseMask[i * t + j] != 0) {
                    prompt[i] = j + 1;
                    break;
                }
            }
        }
        return prompt;
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
