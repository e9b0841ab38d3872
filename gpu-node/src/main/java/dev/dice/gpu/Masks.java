package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/** Additive attention masks: 0 where a query may attend, {@link Llama#MASKED} where it may not. */
final class Masks {
    private Masks() {}

    /** [1, 1, T, T]: position i sees positions 0..i. */
    static NDArray causal(NDManager manager, int t) {
        float[] mask = new float[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = i + 1; j < t; j++) {
                mask[i * t + j] = Llama.MASKED;
            }
        }
        return manager.create(mask, new Shape(1, 1, t, t));
    }

    /**
     * [B, 1, T, S] for T new queries at the end of S keys, where row b's first {@code pads[b]} keys are
     * left padding: causal over the S positions, and padding never attended.
     */
    static NDArray leftPadded(NDManager manager, int[] pads, int t, int s) {
        int rows = pads.length;
        float[] mask = new float[rows * t * s];
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < t; i++) {
                int query = s - t + i;
                for (int j = 0; j < s; j++) {
                    if (j > query || j < pads[b]) {
                        mask[(b * t + i) * s + j] = Llama.MASKED;
                    }
                }
            }
        }
        return manager.create(mask, new Shape(rows, 1, t, s));
    }

    /**
     * [B, 1, T, P + T] for T new queries after a shared prefix cache of width P of which row b may see the
     * first {@code visible[b]} keys (the rest is padding); causal over the T new positions.
     */
    static NDArray afterPrefix(NDManager manager, int[] visible, int p, int t) {
        int rows = visible.length;
        int s = p + t;
        float[] mask = new float[rows * t * s];
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < t; i++) {
                for (int j = 0; j < s; j++) {
                    boolean seen = j < p ? j < visible[b] : j - p <= i;
                    if (!seen) {
                        mask[(b * t + i) * s + j] = Llama.MASKED;
                    }
                }
            }
        }
        return manager.create(mask, new Shape(rows, 1, t, s));
    }
}
