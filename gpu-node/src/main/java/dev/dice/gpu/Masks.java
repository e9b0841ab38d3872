package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Arrays;

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
     * [B, 1, T, P + T] for packed rows after a prefix cache of width P: row b may see the first {@code visible[b]}
     * prefix keys, and each of its T positions sees the earlier positions of the same segment only
     * ({@code segment[b·T + i]}: which sequence position i belongs to; -1 for padding, which sees itself).
     */
    static NDArray packedAfterPrefix(NDManager manager, int[] visible, int p, int[] segment, int t) {
        int rows = visible.length;
        int s = p + t;
        float[] mask = new float[rows * t * s];
        Arrays.fill(mask, Llama.MASKED);
        for (int b = 0; b < rows; b++) {
            for (int i = 0; i < t; i++) {
                int query = segment[b * t + i];
                int at = (b * t + i) * s;
                if (query >= 0) {
                    Arrays.fill(mask, at, at + visible[b], 0f);
                }
                for (int j = i; j >= 0 && segment[b * t + j] == query; j--) {
                    mask[at + p + j] = 0f;
                    if (query < 0) {
                        break;
                    }
                }
            }
        }
        return manager.create(mask, new Shape(rows, 1, t, s));
    }
}
