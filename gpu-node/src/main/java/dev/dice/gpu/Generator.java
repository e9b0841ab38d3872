package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Batched sampling. Prompts of different lengths are left-padded so every row's next token sits in the
 * last column; each row's positions start at 0 after its padding, so it samples what it would alone.
 * Each row draws from its own seeded RNG: the same seed gives the same sample.
 */
public final class Generator {

    /** Sampling settings; temperature 0 means greedy, topP 1 means the full distribution. */
    public record Params(double temperature, double topP, int maxNewTokens) {
        public Params {
            if (temperature < 0 || topP <= 0 || topP > 1 || maxNewTokens < 1) {
                throw new BadInputException("sampling: need temperature >= 0, 0 < top_p <= 1, max_new_tokens >= 1; got "
                        + temperature + ", " + topP + ", " + maxNewTokens);
            }
        }
    }

    /**
     * A sampled response: {@code tokens} before the stop token, and the stop token it ended on (−1 when it ran to the
     * token limit). Callers that score or train on the response put the stop token back: it is part of the response.
     */
    public record Sample(int[] tokens, int stopToken) {
        public boolean endedOnEos() {
            return stopToken >= 0;
        }
    }

    private final Llama model;
    private final Set<Integer> stopIds;
    private final int padId;

    /** {@code stopIds}: every token that ends a response (a release often has several: end of turn, end of text). */
    public Generator(Llama model, Collection<Integer> stopIds, int padId) {
        this.model = model;
        this.stopIds = Set.copyOf(stopIds);
        this.padId = padId;
    }

    /**
     * How a call schedules its rows: {@code rowsInFlight} rows decode at once (a finished row's slot takes the next
     * row at once), and each step prefills at most {@code prefillTokens} prompt tokens (a long prompt is fed in chunks
     * between the decoding steps of the rows in flight).
     */
    public record Batching(int rowsInFlight, int prefillTokens) {
        public static final int DEFAULT_PREFILL_TOKENS = 512;

        public Batching {
            if (rowsInFlight < 1 || prefillTokens < 1) {
                throw new BadInputException("batching: need rows in flight >= 1 and prefill tokens >= 1; got "
                        + rowsInFlight + ", " + prefillTokens);
            }
        }

        /** Every row of the call in flight at once. */
        public static Batching all(int rows) {
            return new Batching(Math.max(1, rows), DEFAULT_PREFILL_TOKENS);
        }
    }

    /** Samples one response per prompt, every row in flight at once: {@link #generate(List, Params, long[], Batching)}. */
    public List<Sample> generate(List<int[]> prompts, Params params, long[] seeds) {
        return generate(prompts, params, seeds, Batching.all(prompts.size()));
    }

    /**
     * Samples one response per prompt with a KV cache and continuous batching ({@link ContinuousBatch}): each distinct
     * prompt is prefilled once for all the rows that continue it, and each row draws from its own seed, so a row's
     * tokens are those it samples alone, whatever the batching.
     */
    public List<Sample> generate(List<int[]> prompts, Params params, long[] seeds, Batching batching) {
        return generate(prompts, params, seeds, limits(prompts, params), batching);
    }

    /** The same, with each row's own token limit (at most {@code params.maxNewTokens()}): the benchmark's lengths. */
    public List<Sample> generate(List<int[]> prompts, Params params, long[] seeds, int[] maxNewTokens,
            Batching batching) {
        return new ContinuousBatch(model, stopIds, padId, prompts, params, seeds, maxNewTokens, batching).run();
    }

    private static int[] limits(List<int[]> prompts, Params params) {
        int[] limits = new int[prompts.size()];
        Arrays.fill(limits, params.maxNewTokens());
        return limits;
    }

    /**
     * Static batching, the benchmark's baseline: the rows decode together until the last of them ends. When every
     * distinct prompt comes the same number of times K, each is prefilled once and its keys and values serve its K
     * rows.
     */
    public List<Sample> generateStatic(List<int[]> prompts, Params params, long[] seeds, int[] maxNewTokens) {
        int[][] copies = PromptCopies.of(prompts);
        if (copies == null) {
            return run(prompts, params, seeds, maxNewTokens, true, 1);
        }
        // Rows in the order repeating the cache gives: copy c of distinct prompt u at c·U + u.
        int distinct = copies.length;
        int k = copies[0].length;
        List<int[]> ordered = new ArrayList<>(prompts.size());
        long[] orderedSeeds = new long[prompts.size()];
        int[] orderedLimits = new int[prompts.size()];
        for (int c = 0; c < k; c++) {
            for (int u = 0; u < distinct; u++) {
                orderedSeeds[ordered.size()] = seeds[copies[u][c]];
                orderedLimits[ordered.size()] = maxNewTokens[copies[u][c]];
                ordered.add(prompts.get(copies[u][c]));
            }
        }
        List<Sample> sampled = run(ordered, params, orderedSeeds, orderedLimits, true, k);
        Sample[] out = new Sample[prompts.size()];
        for (int c = 0; c < k; c++) {
            for (int u = 0; u < distinct; u++) {
                out[copies[u][c]] = sampled.get(c * distinct + u);
            }
        }
        return Arrays.asList(out);
    }

    /** The same sampling, recomputing the whole prefix every step (the benchmark's baseline). */
    public List<Sample> generateWithoutCache(List<int[]> prompts, Params params, long[] seeds) {
        return run(prompts, params, seeds, limits(prompts, params), false, 1);
    }

    /**
     * {@code shared} > 1: rows c·U + u hold copies of the U first rows' prompts, so only those U rows are prefilled and
     * the cache repeated.
     */
    private List<Sample> run(List<int[]> prompts, Params params, long[] seeds, int[] limits, boolean useCache,
            int shared) {
        Autograd.off();
        int rows = prompts.size();
        int context = model.config().context();
        int promptLength = 0;
        for (int i = 0; i < rows; i++) {
            int len = prompts.get(i).length;
            checkPrompt(i, len, context);
            promptLength = Math.max(promptLength, len);
        }
        int steps = Math.min(params.maxNewTokens(), context - promptLength);
        int[] pads = new int[rows];
        long[] tokens = new long[rows * (promptLength + steps)]; // the growing left-padded sequences
        int[][] out = new int[rows][steps];
        int[] produced = new int[rows];
        int[] stop = new int[rows];
        Arrays.fill(stop, -1);
        boolean[] done = new boolean[rows];
        SplittableRandom[] rngs = new SplittableRandom[rows];
        for (int b = 0; b < rows; b++) {
            int[] p = prompts.get(b);
            pads[b] = promptLength - p.length;
            Arrays.fill(tokens, b * (promptLength + steps), (b + 1) * (promptLength + steps), padId);
            for (int j = 0; j < p.length; j++) {
                tokens[b * (promptLength + steps) + pads[b] + j] = p[j];
            }
            rngs[b] = new SplittableRandom(seeds[b]);
        }
        NDManager m = model.manager();
        try (KvCache cache = new KvCache()) {
            int known = promptLength; // columns filled so far
            for (int step = 0; step < steps; step++) {
                float[] logits;
                boolean prefill = step == 0 && shared > 1;
                try (NDScope scope = new NDScope()) {
                    int from = useCache && step > 0 ? known - 1 : 0;
                    int[] fed = prefill ? Arrays.copyOf(pads, rows / shared) : pads;
                    NDArray last = forwardLast(m, tokens, promptLength + steps, fed, from, known,
                            useCache ? cache : null);
                    logits = last.toFloatArray();
                }
                if (prefill) {
                    int distinct = rows / shared;
                    cache.keepRows(IntStream.range(0, rows).map(r -> r % distinct).toArray());
                    logits = repeat(logits, shared);
                }
                int vocab = logits.length / rows;
                boolean all = true;
                for (int b = 0; b < rows; b++) {
                    int next = padId;
                    if (!done[b]) {
                        next = sample(logits, b * vocab, vocab, params, rngs[b]);
                        if (stopIds.contains(next)) {
                            done[b] = true;
                            stop[b] = next;
                        } else {
                            out[b][produced[b]++] = next;
                            done[b] = produced[b] == limits[b];
                        }
                    }
                    tokens[b * (promptLength + steps) + known] = next;
                    all &= done[b];
                }
                known++;
                if (all) {
                    break;
                }
            }
        }
        List<Sample> samples = new ArrayList<>(rows);
        for (int b = 0; b < rows; b++) {
            samples.add(new Sample(Arrays.copyOf(out[b], produced[b]), stop[b]));
        }
        return samples;
    }

    /** Prompt {@code index} of {@code length} tokens must be non-empty and leave room for a token in the context. */
    static void checkPrompt(int index, int length, int context) {
        if (length == 0 || length >= context) {
            throw new BadInputException("prompt " + index + " has " + length + " tokens; it must be non-empty and shorter"
                    + " than the model's context (" + context + " tokens: max_position_embeddings, or the"
                    + " sliding_window where that is smaller)");
        }
    }

    private static float[] repeat(float[] values, int copies) {
        float[] out = new float[values.length * copies];
        for (int c = 0; c < copies; c++) {
            System.arraycopy(values, 0, out, c * values.length, values.length);
        }
        return out;
    }

    /** Logits [B, V] for the position after column {@code to − 1}, feeding columns {@code from..to−1}. */
    private NDArray forwardLast(NDManager m, long[] tokens, int width, int[] pads, int from, int to,
            KvCache cache) {
        int rows = pads.length;
        int t = to - from;
        long[] window = new long[rows * t];
        long[] positions = new long[rows * t];
        for (int b = 0; b < rows; b++) {
            for (int j = 0; j < t; j++) {
                window[b * t + j] = tokens[b * width + from + j];
                positions[b * t + j] = Math.max(0, from + j - pads[b]);
            }
        }
        NDArray hidden = model.hidden(m.create(window, new Shape(rows, t)), m.create(positions, new Shape(rows, t)),
                Masks.leftPadded(m, pads, t, to), cache);
        return model.head(hidden.get(":, -1, :")); // the head only where the next token is read
    }

    /** One draw from softmax(logits / T), restricted to the smallest top set with mass ≥ topP. */
    static int sample(float[] logits, int offset, int vocab, Params params, SplittableRandom rng) {
        int best = offset;
        for (int i = offset; i < offset + vocab; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        if (params.temperature() == 0) {
            return best - offset;
        }
        double max = logits[best];
        double[] probs = new double[vocab];
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            probs[i] = Math.exp((logits[offset + i] - max) / params.temperature());
            total += probs[i];
        }
        double u = rng.nextDouble();
        if (params.topP() >= 1) {
            double target = u * total;
            for (int i = 0; i < vocab; i++) {
                target -= probs[i];
                if (target < 0) {
                    return i;
                }
            }
            return best - offset;
        }
        // Sort token ids by probability, descending, with a primitive sort: the bits of a positive float
        // order like its value, so (MAX - bits, id) packed in a long sorts ascending as we need.
        long[] keyed = new long[vocab];
        for (int i = 0; i < vocab; i++) {
            long rank = Integer.MAX_VALUE - Float.floatToIntBits((float) probs[i]);
            keyed[i] = (rank << 32) | i;
        }
        Arrays.sort(keyed);
        double kept = 0;
        int n = 0;
        // do-while: the nucleus holds at least the top token, even if the logits are not finite
        do {
            kept += probs[(int) keyed[n++]];
        } while (n < vocab && kept < params.topP() * total);
        double target = u * kept;
        for (int k = 0; k < n; k++) {
            target -= probs[(int) keyed[k]];
            if (target < 0) {
                return (int) keyed[k];
            }
        }
        return (int) keyed[n - 1];
    }
}
