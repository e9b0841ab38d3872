package dev.dice.gpu;

import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * How much device memory a trainer, a generator and a scorer need, counted tensor by tensor from what the code
 * allocates today (docs/memory.md). A pure function of the model's shape and the settings: nothing here touches
 * libtorch.
 *
 * <p>Everything is fp32 (4 bytes): weights load through fp32 (bf16 widened), training runs in fp32. Activations are
 * counted as {@link Llama} computes them: every op's output is an NDArray registered with the step's NDScope and lives
 * until the scope closes, so a forward pass holds every intermediate of every layer, in training and in inference
 * alike ({@link #layerFloats}).
 *
 * <p>A trainer's peak is the larger of two phases. Backward: weights, the parameters' {@code .grad}, the AdamW
 * moments, all activations, the logits and their log-softmax, and backward's working set. Optimizer step (activations
 * freed): weights, {@code .grad}, the flat copy {@link GradBuckets} makes of it, the moments, and the step's two
 * bucket-sized temporaries. ZeRO ({@code dice.train.zero-stage}, counted for the rank with the largest parts): stage 1
 * keeps the moments of 1/R of every bucket, and the step's temporaries are part-sized; stage 2 also packs and reduces
 * one bucket at a time, keeping only its part, instead of the flat copy of every gradient, and releases each bucket's
 * {@code .grad} once packed. Backward still accumulates into every parameter's {@code .grad} in every stage, so the
 * backward phase holds it whole; stage 2 keeps none of it between steps.
 */
public final class MemoryPlan {
    public static final int FLOAT = 4;

    private MemoryPlan() {}

    /**
     * What is planned for. {@code microBatchTokens} are split into rows of {@code sequenceLength}; the generator
     * samples {@code generatorRows} rows of {@code promptTokens} + {@code newTokens}; the scorer scores
     * {@code scorerRows} rows of prompt + response.
     */
    public record Settings(int trainers, long deviceBytes, int zeroStage, boolean activationCheckpointing,
            long microBatchTokens, int sequenceLength, int generatorRows, int promptTokens, int newTokens,
            int scorerRows, long bucketBytes) {
        public Settings {
            if (trainers < 1 || zeroStage < 0 || zeroStage > 2 || sequenceLength < 1 || microBatchTokens < sequenceLength
                    || generatorRows < 1 || promptTokens < 1 || newTokens < 0 || scorerRows < 1 || bucketBytes < 1) {
                throw new IllegalArgumentException("memory plan: bad settings " + this);
            }
        }

        public long rows() {
            return microBatchTokens / sequenceLength;
        }

        public Settings with(int zero, boolean checkpointing, long tokens) {
            return new Settings(trainers, deviceBytes, zero, checkpointing, tokens, sequenceLength, generatorRows,
                    promptTokens, newTokens, scorerRows, bucketBytes);
        }

        public Settings withGeneratorRows(int rows) {
            return new Settings(trainers, deviceBytes, zeroStage, activationCheckpointing, microBatchTokens,
                    sequenceLength, rows, promptTokens, newTokens, scorerRows, bucketBytes);
        }
    }

    /**
     * One trainer's bytes by term, and its peak: max(backward phase, optimizer-step phase). {@code gradients}: the
     * {@code .grad} backward fills; {@code gradientsKept}: the part of it that stays from one step to the next (none
     * under ZeRO stage 2). {@link #state}: what a trainer keeps between steps besides its weights.
     */
    public record Trainer(long weights, long gradients, long gradientsKept, long gradientBuckets, long optimizer,
            long optimizerScratch, long activations, long logits, long backwardWorkingSet, long backwardPhase,
            long stepPhase, long peak) {
        /** Gradients and optimizer state held between steps. */
        public long state() {
            return gradientsKept + optimizer;
        }
    }

    /**
     * One generator: weights, the KV cache of its rows in flight at their longest, and the larger of a prefill (new
     * prompts are prefilled while the other rows decode) and the last decoding step.
     */
    public record Generator(long weights, long prefillActivations, long prefillLogits, long kvCache,
            long decodeWorkingSet, long peak) {}

    /** One scorer: the policy and the reference, one forward pass at a time. */
    public record Scorer(long weights, long activations, long logits, long peak) {}

    public record Plan(LlamaConfig config, Settings settings, long parameters, long largestBucketFloats,
            Trainer trainer, Generator generator, Scorer scorer) {
        public boolean trainerFits() {
            return trainer.peak() <= settings.deviceBytes();
        }

        public boolean generatorFits() {
            return generator.peak() <= settings.deviceBytes();
        }

        public boolean scorerFits() {
            return scorer.peak() <= settings.deviceBytes();
        }
    }

    public static Plan of(LlamaConfig c, Settings s) {
        long p = c.parameterCount();
        long r = s.trainers();
        List<Long> bucketFloats = bucketFloats(c, s.bucketBytes());
        long maxBucket = bucketFloats.stream().mapToLong(Long::longValue).max().orElse(0);

        // Trainer
        long weights = FLOAT * p;
        long grads = FLOAT * p; // every parameter's .grad, accumulated by backward
        long buckets;
        long gradsInStep; // .grad and flat buffers at their most during the optimizer step
        long optimizer;
        long scratch;
        if (s.zeroStage() == 0) {
            buckets = FLOAT * p; // GradBuckets' flat concatenation of the .grad tensors
            gradsInStep = grads + buckets;
            optimizer = 2L * FLOAT * p;
            scratch = 2L * FLOAT * maxBucket; // the update's two bucket-sized temporaries
        } else {
            long[] parts = bucketFloats.stream().mapToLong(f -> ceilDiv(f, r)).toArray();
            optimizer = 2L * FLOAT * java.util.Arrays.stream(parts).sum();
            scratch = 3L * FLOAT * ceilDiv(maxBucket, r); // a part's weights and two part-sized temporaries
            buckets = FLOAT * (s.zeroStage() == 1 ? p : zero2Buckets(bucketFloats, parts));
            gradsInStep = s.zeroStage() == 1 ? grads + buckets : FLOAT * zero2Gradients(bucketFloats, parts);
        }
        long gradsKept = s.zeroStage() == 2 ? 0 : grads; // stage 2 releases each bucket's .grad as it packs it
        long b = s.rows();
        long t = s.sequenceLength();
        long n = b * t;
        long layer = layerFloats(c, b, t, t);
        long outside = (long) c.hiddenSize() * n + normFloats(c, n) + 2L * t * c.headDim() * 2; // embed, final norm, rotary
        long acts = FLOAT * (s.activationCheckpointing()
                ? (long) c.numHiddenLayers() * n * c.hiddenSize() + layer + outside
                : (long) c.numHiddenLayers() * layer + outside);
        long logits = FLOAT * (2L * n * c.vocabSize() + 3 * n); // head, log-softmax; gather, mask, product
        long backward = FLOAT * Math.max(2L * n * c.vocabSize(), layer); // d(log-softmax), d(logits) / one layer's
        long backwardPhase = weights + grads + optimizer + acts + logits + backward;
        long stepPhase = weights + optimizer + gradsInStep + scratch;
        Trainer trainer = new Trainer(weights, grads, gradsKept, buckets, optimizer, scratch, acts, logits, backward,
                backwardPhase, stepPhase, Math.max(backwardPhase, stepPhase));

        // Generator: a prefill runs (at most) every row's padded prompt through every layer, the head only at the last
        // position; it runs beside the cache of the rows in flight, whose slots its prompts will fill.
        long rows = s.generatorRows();
        long prompt = s.promptTokens();
        long total = prompt + s.newTokens();
        long prefillActs = FLOAT * ((long) c.numHiddenLayers() * layerFloats(c, rows, prompt, prompt)
                + (long) c.hiddenSize() * rows * prompt + normFloats(c, rows * prompt));
        long prefillLogits = FLOAT * rows * c.vocabSize();
        long kv = kvCacheBytes(c, rows, total);
        // The last decoding step: every layer's outputs for one new position attending over `total`, the cache's
        // concatenation (old and new copy of one layer's keys and values) and one row of logits.
        long decode = FLOAT * ((long) c.numHiddenLayers() * layerFloats(c, rows, 1, total) + 2L * rows * c.vocabSize())
                + kvCacheBytes(c, rows, total) / c.numHiddenLayers();
        long genPeak = weights + kv + Math.max(prefillActs + prefillLogits, decode);
        Generator generator = new Generator(weights, prefillActs, prefillLogits, kv, decode, genPeak);

        // Scorer: policy and reference, rows of prompt + response, head over the response positions.
        long sr = s.scorerRows();
        long scoreActs = FLOAT * ((long) c.numHiddenLayers() * layerFloats(c, sr, total, total)
                + (long) c.hiddenSize() * sr * total + normFloats(c, sr * total));
        long scoreLogits = FLOAT * (2L * sr * Math.max(1, s.newTokens()) * c.vocabSize());
        Scorer scorer = new Scorer(2 * weights, scoreActs, scoreLogits, 2 * weights + scoreActs + scoreLogits);
        return new Plan(c, s, p, maxBucket, trainer, generator, scorer);
    }

    /**
     * Floats one decoder layer's forward pass leaves alive for {@code b} rows of {@code t} new positions attending over
     * {@code s} positions, op by op as {@link Llama} computes them (reshapes, transposes, splits and broadcasts are
     * views; a reshape of a transposed tensor copies).
     */
    public static long layerFloats(LlamaConfig c, long b, long t, long s) {
        long n = b * t;
        long hidden = c.hiddenSize();
        long q = (long) c.numAttentionHeads() * c.headDim();
        long kv = (long) c.numKeyValueHeads() * c.headDim();
        long f = 2 * normFloats(c, n); // input_layernorm, post_attention_layernorm
        f += n * q + 2 * n * kv; // q, k, v projections
        if (c.qkNorm()) {
            f += 2 * n * q + 5L * n * c.numAttentionHeads() + 2 * n * kv + 5L * n * c.numKeyValueHeads();
        }
        f += 4 * n * q + 4 * n * kv; // rotate: concat of the swapped halves, x·cos, swapped·sin, their sum
        if (c.numAttentionHeads() != c.numKeyValueHeads()) {
            f += 2 * b * s * q; // repeatKv: keys and values copied out to every query head
        }
        f += 3L * b * c.numAttentionHeads() * t * s; // scores, + mask, softmax
        f += 2 * n * q; // softmax·v, and the reshape of its transpose (a copy)
        f += 2 * n * hidden; // o_proj, residual
        f += 5L * n * c.intermediateSize() + 2 * n * hidden; // gate, up, sigmoid, gate·σ, ·up; down, residual
        return f;
    }

    /** RMSNorm over the hidden size: norm, square, /C, +eps, sqrt ([n, 1] each), x / rms, · weight. */
    private static long normFloats(LlamaConfig c, long n) {
        return 2 * n * c.hiddenSize() + 5 * n;
    }

    /** The generator's cache: every layer's rotated keys and values, fp32: layers · 2 · kv_heads · head_dim · tokens. */
    public static long kvCacheBytes(LlamaConfig c, long rows, long positions) {
        return FLOAT * c.numHiddenLayers() * 2L * c.numKeyValueHeads() * c.headDim() * rows * positions;
    }

    /**
     * ZeRO stage 2's most floats of gradient buffers at once: packing bucket i while the parts of the buckets before it
     * are kept, and its part copied out before it is freed; then gathering bucket i's new weights in a bucket-sized
     * buffer while the parts from i on are still to be stepped.
     */
    /**
     * ZeRO stage 2's most floats of {@code .grad} and gradient buffers at once in a step: packing bucket i while the
     * {@code .grad} of buckets i on still exists (bucket i's is released once packed) and the parts before it are kept;
     * then, the {@code .grad} all released, gathering as {@link #zero2Buckets} does.
     */
    private static long zero2Gradients(List<Long> buckets, long[] parts) {
        long peak = zero2Buckets(buckets, parts);
        long unpacked = buckets.stream().mapToLong(Long::longValue).sum();
        long before = 0;
        for (int i = 0; i < parts.length; i++) {
            peak = Math.max(peak, unpacked + buckets.get(i) + before);
            unpacked -= buckets.get(i);
            before += parts[i];
        }
        return peak;
    }

    private static long zero2Buckets(List<Long> buckets, long[] parts) {
        long peak = 0;
        long before = 0;
        long after = java.util.Arrays.stream(parts).sum();
        for (int i = 0; i < parts.length; i++) {
            before += parts[i];
            peak = Math.max(peak, Math.max(before, after) + buckets.get(i));
            after -= parts[i];
        }
        return peak;
    }

    /** The flat gradient buckets' sizes, in floats, grouped as {@link GradBuckets} groups (reverse order, ≤ bytes). */
    public static List<Long> bucketFloats(LlamaConfig c, long bucketBytes) {
        List<Long> sizes = new ArrayList<>();
        for (Map.Entry<String, Shape> e : c.parameterShapes().entrySet()) {
            sizes.add(e.getValue().size());
        }
        java.util.Collections.reverse(sizes);
        List<Long> buckets = new ArrayList<>();
        long group = 0;
        boolean empty = true;
        for (long size : sizes) {
            if (!empty && (group + size) * FLOAT > bucketBytes) {
                buckets.add(group);
                group = 0;
            }
            group += size;
            empty = false;
        }
        if (!empty) {
            buckets.add(group);
        }
        return buckets;
    }

    /** The largest flat gradient bucket, in floats. */
    public static long largestBucketFloats(LlamaConfig c, long bucketBytes) {
        return bucketFloats(c, bucketBytes).stream().mapToLong(Long::longValue).max().orElse(0);
    }

    /**
     * The cheapest setting whose trainer fits: first the given micro-batch without changes, then activation
     * checkpointing, then ZeRO stages 1 and 2, then halving the micro-batch down to one row. Null if none fits.
     */
    public static Plan smallestFit(LlamaConfig c, Settings s) {
        for (long tokens = s.microBatchTokens(); tokens >= s.sequenceLength(); tokens /= 2) {
            for (int zero = s.zeroStage(); zero <= (s.trainers() > 1 ? 2 : s.zeroStage()); zero++) {
                for (boolean ckpt : s.activationCheckpointing() ? new boolean[] {true} : new boolean[] {false, true}) {
                    Plan plan = of(c, s.with(zero, ckpt, tokens / s.sequenceLength() * s.sequenceLength()));
                    if (plan.trainerFits()) {
                        return plan;
                    }
                }
            }
        }
        return null;
    }

    /**
     * The most rows a generator may keep in flight in {@code bytes} (weights included) for prompts of
     * {@code promptTokens} and responses of {@code newTokens}; 0 if not even one row fits.
     */
    public static int generatorRowsIn(LlamaConfig c, long bytes, int promptTokens, int newTokens) {
        int sequence = promptTokens + Math.max(1, newTokens);
        IntPredicate fits = rows -> of(c, new Settings(1, bytes, 0, false, sequence, sequence, rows,
                promptTokens, newTokens, 1, GradBuckets.DEFAULT_BUCKET_BYTES)).generatorFits();
        int low = 0; // fits (or 0)
        int high = 1 << 20; // assumed not to fit: a million rows
        while (high - low > 1) {
            int mid = (low + high) >>> 1;
            if (fits.test(mid)) {
                low = mid;
            } else {
                high = mid;
            }
        }
        return low;
    }

    /** The most generator rows (halving from the given number) whose generator fits; 0 if not even one. */
    public static int generatorRowsThatFit(LlamaConfig c, Settings s) {
        for (int rows = s.generatorRows(); rows >= 1; rows /= 2) {
            if (of(c, s.withGeneratorRows(rows)).generatorFits()) {
                return rows;
            }
        }
        return 0;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }

    /** "80GiB", "40 GB", "512MiB", "1073741824": binary (KiB, MiB, GiB, TiB) or decimal (KB, MB, GB, TB) units. */
    public static long parseBytes(String text) {
        String t = text.trim().replace(" ", "");
        String[][] units = {{"TiB", "1099511627776"}, {"GiB", "1073741824"}, {"MiB", "1048576"}, {"KiB", "1024"},
            {"TB", "1000000000000"}, {"GB", "1000000000"}, {"MB", "1000000"}, {"KB", "1000"}, {"B", "1"}};
        for (String[] u : units) {
            if (t.regionMatches(true, t.length() - u[0].length(), u[0], 0, u[0].length())) {
                String number = t.substring(0, t.length() - u[0].length());
                try {
                    return Math.round(Double.parseDouble(number) * Long.parseLong(u[1]));
                } catch (NumberFormatException e) {
                    throw new BadInputException("memory size '" + text + "': expected a number and a unit, e.g. 80GiB");
                }
            }
        }
        try {
            return Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new BadInputException("memory size '" + text + "': expected a number and a unit, e.g. 80GiB");
        }
    }
}
