package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The rows of a {@link SequenceBatch} packed end to end into fewer rows of a fixed width (first fit,
 * longest first). Each packed sequence keeps its own positions 0, 1, ... and attends only within itself,
 * so every token's log-prob is the one it has in the padded batch; what disappears is the padding, about a
 * third of an SFT batch's positions. Only the response positions reach the output head.
 */
final class PackedBatch {
    private final long[] tokens;     // [R, W]; padding slots hold token 0, which nothing attends to
    private final long[] positions;  // [R, W]
    private final int[] segment;     // [R, W]: which sequence a slot holds, −1 for padding
    private final long[] sources;    // flat indices (r·W + t) of the positions that predict a response token
    private final long[] targets;    // the tokens they predict
    private final int rows;
    private final int width;

    private PackedBatch(long[] tokens, long[] positions, int[] segment, long[] sources, long[] targets, int rows,
            int width) {
        this.tokens = tokens;
        this.positions = positions;
        this.segment = segment;
        this.sources = sources;
        this.targets = targets;
        this.rows = rows;
        this.width = width;
    }

    /**
     * Packs {@code batch} into rows of {@code context} tokens, or of its longest sequence when that takes fewer slots
     * (rows of 64 tokens pack one per row into a context of 96, so a wider row would only add padding).
     */
    static PackedBatch of(SequenceBatch batch, int context) {
        int t = batch.length() - 1;
        int[] lengths = new int[batch.rows()];
        int longest = 1;
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < batch.rows(); i++) {
            // responses come last in a row: it ends with the token its last scored position predicts
            for (int j = t - 1; j >= 0 && lengths[i] == 0; j--) {
                lengths[i] = batch.responseMask()[i * t + j] != 0 ? j + 2 : 0;
            }
            longest = Math.max(longest, lengths[i]);
            if (lengths[i] > 0) { // a row without response tokens adds nothing to the sum
                order.add(i);
            }
        }
        order.sort(Comparator.comparingInt((Integer i) -> -lengths[i]).thenComparingInt(i -> i));
        int width = longest;
        List<List<Integer>> bins = firstFit(order, lengths, width);
        if (context > longest) {
            List<List<Integer>> wide = firstFit(order, lengths, context);
            if ((long) wide.size() * context < (long) bins.size() * longest) {
                bins = wide;
                width = context;
            }
        }
        int rows = bins.size();
        long[] tokens = new long[rows * width];
        long[] positions = new long[rows * width];
        int[] segment = new int[rows * width];
        java.util.Arrays.fill(segment, -1);
        List<Long> sources = new ArrayList<>();
        List<Long> targets = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            int at = 0;
            for (int i : bins.get(r)) {
                for (int j = 0; j < lengths[i]; j++) {
                    int slot = r * width + at + j;
                    tokens[slot] = batch.tokens()[i * batch.length() + j];
                    positions[slot] = j;
                    segment[slot] = i;
                    if (j < t && batch.responseMask()[i * t + j] != 0) {
                        sources.add((long) slot);
                        targets.add(batch.tokens()[i * batch.length() + j + 1]);
                    }
                }
                at += lengths[i];
            }
        }
        return new PackedBatch(tokens, positions, segment, sources.stream().mapToLong(Long::longValue).toArray(),
                targets.stream().mapToLong(Long::longValue).toArray(), rows, width);
    }

    /** First fit: each sequence, longest first, into the first row with room for it. */
    private static List<List<Integer>> firstFit(List<Integer> order, int[] lengths, int width) {
        List<List<Integer>> bins = new ArrayList<>();
        List<Integer> used = new ArrayList<>();
        for (int i : order) {
            int bin = 0;
            while (bin < bins.size() && used.get(bin) + lengths[i] > width) {
                bin++;
            }
            if (bin == bins.size()) {
                bins.add(new ArrayList<>());
                used.add(0);
            }
            bins.get(bin).add(i);
            used.set(bin, used.get(bin) + lengths[i]);
        }
        return bins;
    }

    int rows() {
        return rows;
    }

    int width() {
        return width;
    }

    /** Σ of log π(token) over every response token of the batch: a scalar, differentiable when recording. */
    NDArray responseLogProbSum(Llama model) {
        NDManager m = model.manager();
        Shape shape = new Shape(rows, width);
        NDArray hidden = model.hidden(m.create(tokens, shape), m.create(positions, shape), mask(m), null);
        NDArray flat = hidden.reshape(-1, hidden.getShape().get(2));
        // embedding(ids, table) is table[ids], with a gradient for the table: the response positions' states
        NDArray picked = flat.getNDArrayInternal().embedding(m.create(sources), flat, SparseFormat.DENSE)
                .singletonOrThrow();
        NDArray logp = model.head(picked).logSoftmax(-1);
        return logp.gather(m.create(targets).expandDims(-1), -1).sum();
    }

    /** [R, 1, W, W]: causal within each packed sequence; padding sees only itself, so no row is fully masked. */
    private NDArray mask(NDManager m) {
        float[] mask = new float[rows * width * width];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < width; i++) {
                int si = segment[r * width + i];
                for (int j = 0; j < width; j++) {
                    boolean seen = si < 0 ? i == j : j <= i && segment[r * width + j] == si;
                    if (!seen) {
                        mask[(r * width + i) * width + j] = Llama.MASKED;
                    }
                }
            }
        }
        return m.create(mask, new Shape(rows, 1, width, width));
    }
}
