package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * {@code dice bench runtime}: the runtime's speed on this machine, each figure the median of several
 * timed repetitions after a warm-up, all measured in one process so ratios between them are fair.
 */
public final class RuntimeBench {
    private final NDManager root;
    private final int repeats;

    public RuntimeBench(NDManager root, int repeats) {
        this.root = root;
        this.repeats = repeats;
    }

    /** The shapes of {@code shared/bench/peer_dpo_step.py}: 2 layers, d_model 128, 4 heads, FFN 512, vocab 260. */
    public static LlamaConfig peerShapes() {
        return peerShapes(512);
    }

    /**
     * The peer's shapes with another MLP width. SwiGLU has three C×I matrices where the peer's GELU MLP has
     * two, so at I = 344 the MLP holds about as many parameters as the peer's at 512 (3·344 ≈ 2·512).
     */
    static LlamaConfig peerShapes(int intermediate) {
        return new LlamaConfig(260, 128, intermediate, 2, 4, 4, 64, 1e-5, 10000.0, false, 256, 257);
    }

    /** What {@link #dpoStepMs} runs, to set beside the peer's own run (its figures are not ours to print). */
    static Map<String, Object> peerComparison() {
        Map<String, Object> shapes = new LinkedHashMap<>();
        shapes.put("script", "shared/bench/peer_dpo_step.py 32 <threads> <steps>");
        shapes.put("layers", 2);
        shapes.put("d_model", 128);
        shapes.put("heads", 4);
        shapes.put("vocab", 260);
        shapes.put("ffn", "peer: GELU 512 (2 matrices); dpo_step_ms: SwiGLU 512 (3 matrices, 1.5x MLP flops); "
                + "dpo_step_ms_ffn344: SwiGLU 344 (parameter-matched)");
        shapes.put("pairs", 32);
        shapes.put("prompt_tokens", 32);
        shapes.put("response_tokens", 32);
        shapes.put("reference", "peer: frozen reference forward every step; dpo_step_ms: reference log-probs are "
                + "inputs (none); dpo_step_ms_with_ref_forward: one no-grad reference pass per step");
        shapes.put("prompt_sharing", "chosen and rejected share the prompt (as in the peer); dpo_step_ms runs it once "
                + "per pair, dpo_step_ms_unshared_prompts runs all 64 full rows like the peer");
        return shapes;
    }

    public Map<String, Object> run(LlamaConfig builtin) {
        Map<String, Object> out = new LinkedHashMap<>();
        // The peak is the best fp32 GEMM rate over a few square sizes: larger products run closer to the
        // machine's limit, so the 512 figure alone would flatter MFU.
        double gflops512 = matmulGflops(512);
        double gflops = Math.max(gflops512, Math.max(matmulGflops(1024), matmulGflops(2048)));
        out.put("matmul_gflops", round(gflops));
        out.put("matmul_gflops_n512", round(gflops512));
        double trainTokens = trainTokensPerSecond(builtin, 32, 64);
        out.put("train_tokens_per_s", round(trainTokens));
        out.put("params", builtin.parameterCount());
        // 6·N flops per trained token, N = every parameter, the tied embedding/head matrix counted once
        // (attention's T² term left out, as usual).
        out.put("mfu", round(6.0 * builtin.parameterCount() * trainTokens / (gflops * 1e9)));
        // The same work on one single-threaded replica per core, data-parallel over the in-JVM ring (as a run trains).
        int replicas = Runtime.getRuntime().availableProcessors();
        out.put("replicas", replicas);
        double replicaTokens = replicaTrainTokensPerSecond(builtin, replicas, 32, 64);
        out.put("train_tokens_per_s_replicas", round(replicaTokens));
        out.put("mfu_replicas", round(6.0 * builtin.parameterCount() * replicaTokens / (gflops * 1e9)));
        // What MFU could reach if a training step were nothing but its matrix products, at the model's own shapes.
        double modelGemm = modelGemmGflops(builtin, 32 * 63);
        out.put("matmul_gflops_model_shapes", round(modelGemm));
        out.put("mfu_ceiling_model_shapes", round(modelGemm / gflops));
        out.put("dpo_step_ms", round(peerShapedDpoStepMs()));
        out.put("dpo_step_ms_replicas", round(replicaDpoStepMs(peerShapes(), replicas, 32)));
        out.put("dpo_step_ms_with_ref_forward", round(dpoStepMs(peerShapes(), 32, true, true)));
        out.put("dpo_step_ms_unshared_prompts", round(dpoStepMs(peerShapes(), 32, false, false)));
        out.put("dpo_step_ms_ffn344", round(dpoStepMs(peerShapes(344), 32, false, true)));
        out.put("peer_comparison", peerComparison());
        double kv = decodeTokensPerSecond(builtin, true);
        double recompute = decodeTokensPerSecond(builtin, false);
        out.put("decode_tokens_per_s_kv", round(kv));
        out.put("decode_tokens_per_s_recompute", round(recompute));
        out.put("kv_speedup", round(kv / recompute));
        out.put("score_sequences_per_s", round(scoreSequencesPerSecond(builtin, 64, 64, 1)));
        out.put("score_sequences_per_s_k4", round(scoreSequencesPerSecond(builtin, 64, 64, 4)));
        return out;
    }

    /** fp32 matmul rate at n×n: 2n³ flops per product. */
    double matmulGflops(int n) {
        Autograd.off();
        try (NDManager m = root.newSubManager()) {
            NDArray a = m.randomNormal(new Shape(n, n));
            NDArray b = m.randomNormal(new Shape(n, n));
            int inner = Math.max(2, (int) (20 * Math.pow(512.0 / n, 3)));
            double seconds = median(() -> {
                for (int i = 0; i < inner; i++) {
                    try (NDArray c = a.matMul(b)) {
                        c.getFloat(0, 0); // forces completion on asynchronous devices
                    }
                }
            });
            return 2.0 * n * n * n * inner / seconds / 1e9;
        }
    }

    /**
     * The rate of one layer's products plus the head's, forward, for {@code tokens} rows at the model's widths:
     * [T, C]·[C, C] four times (q, k, v, o; GQA's narrower k, v ignored), [T, C]·[C, I] twice, [T, I]·[I, C],
     * [T, C]·[C, V]. Backward runs products of the same sizes, so this bounds the whole step's matmul rate.
     */
    double modelGemmGflops(LlamaConfig config, int tokens) {
        Autograd.off();
        int c = config.hiddenSize();
        int i = config.intermediateSize();
        long[][] shapes = {{c, c}, {c, c}, {c, c}, {c, c}, {c, i}, {c, i}, {i, c}, {c, config.vocabSize()}};
        try (NDManager m = root.newSubManager()) {
            List<NDArray[]> operands = new ArrayList<>();
            double flops = 0;
            for (long[] s : shapes) {
                operands.add(new NDArray[] {m.randomNormal(new Shape(tokens, s[0])), m.randomNormal(new Shape(s[0], s[1]))});
                flops += 2.0 * tokens * s[0] * s[1];
            }
            double seconds = median(() -> {
                for (int r = 0; r < 10; r++) {
                    for (NDArray[] ab : operands) {
                        try (NDArray y = ab[0].matMul(ab[1])) {
                            y.getFloat(0, 0);
                        }
                    }
                }
            });
            return 10 * flops / seconds / 1e9;
        }
    }

    double trainTokensPerSecond(LlamaConfig config, int batch, int length) {
        try (Llama model = Llama.init(config, root.newSubManager(), 1)) {
            return trainTokensPerSecond(model, batch, length);
        }
    }

    private double trainTokensPerSecond(Llama model, int batch, int length) {
        Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 1.0));
        SequenceBatch data = randomBatch(model.config(), batch, 1, length - 1);
        double seconds = median(() -> {
            trainer.sft(data, 1.0);
            trainer.step();
        });
        return batch * (length - 1) / seconds;
    }

    /** {@link #trainTokensPerSecond} with the batch split over {@code replicas} single-threaded replicas. */
    double replicaTrainTokensPerSecond(LlamaConfig config, int replicas, int batch, int length) {
        try (Llama model = Llama.init(config, root.newSubManager(), 1);
                ReplicaSteps ring = new ReplicaSteps(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 1.0),
                        replicas)) {
            SequenceBatch data = randomBatch(config, batch / replicas, 1, length - 1);
            double seconds = median(() -> ring.step(rank -> ring.trainer(rank).sft(data, 1.0)));
            return batch / replicas * replicas * (length - 1) / seconds;
        }
    }

    /** {@code dpo_step_ms} with its pairs split over {@code replicas} single-threaded replicas. */
    double replicaDpoStepMs(LlamaConfig config, int replicas, int pairs) {
        int share = pairs / replicas;
        try (Llama model = Llama.init(config, root.newSubManager(), 2);
                ReplicaSteps ring = new ReplicaSteps(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 0),
                        replicas)) {
            SequenceBatch data = pairBatch(config, share, 32, 32);
            float[] refs = new float[share];
            return 1000 * median(() -> ring.step(rank -> ring.trainer(rank).dpo(data, refs, refs, 0.1, 1.0)));
        }
    }

    /** {@code dpo_step_ms}: one DPO step at the peer's shapes, 32 pairs, prompts shared, reference log-probs given. */
    public double peerShapedDpoStepMs() {
        return dpoStepMs(peerShapes(), 32, false, true, this::median);
    }

    /** {@link #peerShapedDpoStepMs} timed as the peer times itself: the mean of {@code steps} after 5 warm-up steps. */
    public double peerShapedDpoStepMsAsPeer(int steps) {
        return dpoStepMs(peerShapes(), 32, false, true, work -> meanAfterWarmUp(work, 5, steps));
    }

    /**
     * One DPO step over {@code pairs} pairs of 32 + 32 tokens, chosen and rejected sharing their prompt
     * (or, without {@code sharedPrompts}, 2·pairs independent prompts, so every row runs in full).
     */
    double dpoStepMs(LlamaConfig config, int pairs, boolean referenceForward, boolean sharedPrompts) {
        return dpoStepMs(config, pairs, referenceForward, sharedPrompts, this::median);
    }

    private double dpoStepMs(LlamaConfig config, int pairs, boolean referenceForward, boolean sharedPrompts,
            java.util.function.ToDoubleFunction<Runnable> timing) {
        try (Llama model = Llama.init(config, root.newSubManager(), 2)) {
            return dpoStepMs(model, pairs, 32, referenceForward, sharedPrompts, timing);
        }
    }

    /** One DPO step of {@code model} over {@code pairs} pairs of {@code half} prompt + {@code half} response tokens. */
    private double dpoStepMs(Llama model, int pairs, int half, boolean referenceForward, boolean sharedPrompts,
            java.util.function.ToDoubleFunction<Runnable> timing) {
        LlamaConfig config = model.config();
        try (Llama reference = model.copy()) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 0));
            SequenceBatch data = sharedPrompts ? pairBatch(config, pairs, half, half)
                    : randomBatch(config, 2 * pairs, half, half);
            float[] refs = new float[2 * pairs];
            double seconds = timing.applyAsDouble(() -> {
                float[] r = refs;
                if (referenceForward) {
                    Autograd.off();
                    try (NDScope scope = new NDScope()) {
                        r = data.sharedPromptLogProbs(reference).toFloatArray();
                    }
                }
                trainer.dpo(data, Arrays.copyOfRange(r, 0, pairs), Arrays.copyOfRange(r, pairs, 2 * pairs), 0.1, 1.0);
                trainer.step();
            });
            return seconds * 1000;
        }
    }

    /** Batch 64, 32 new tokens after a 16-token prompt; EOS disabled so every row decodes all 32. */
    public double decodeTokensPerSecond(LlamaConfig config, boolean cache) {
        try (Llama model = Llama.init(config, root.newSubManager(), 3)) {
            return decodeTokensPerSecond(model, cache, 64, 32);
        }
    }

    private double decodeTokensPerSecond(Llama model, boolean cache, int rows, int newTokens) {
        Generator generator = new Generator(model, List.of(), 0);
        List<int[]> prompts = new ArrayList<>();
        Random rng = new Random(5);
        for (int i = 0; i < rows; i++) {
            prompts.add(rng.ints(16, 3, model.config().vocabSize()).toArray());
        }
        long[] seeds = rng.longs(rows).toArray();
        Generator.Params params = new Generator.Params(1.0, 1.0, newTokens);
        double seconds = median(() -> {
            if (cache) {
                generator.generate(prompts, params, seeds);
            } else {
                generator.generateWithoutCache(prompts, params, seeds);
            }
        });
        return rows * newTokens / seconds;
    }

    /**
     * Sequences of {@code length} tokens, the second half scored, as a scorer runs them: {@code k} consecutive rows share
     * a random prompt (a prompt's K sampled responses; 1: every prompt distinct), and each distinct prompt runs once.
     */
    public double scoreSequencesPerSecond(LlamaConfig config, int batch, int length, int k) {
        try (Llama model = Llama.init(config, root.newSubManager(), 4)) {
            return scoreSequencesPerSecond(model, batch, length, k);
        }
    }

    private double scoreSequencesPerSecond(Llama model, int batch, int length, int k) {
        SequenceBatch data = sharedPromptBatch(model.config(), batch, k, length / 2, length / 2);
        double seconds = median(() -> {
            Autograd.off();
            try (NDScope scope = new NDScope()) {
                data.sharedPromptLogProbs(model).toFloatArray();
            }
        });
        return batch / seconds;
    }

    /**
     * {@code dice bench runtime --model DIR}: the same figures for a given checkpoint at batch sizes a CPU can hold for
     * a real model (training 4 × 128 tokens, DPO 4 pairs of 64 + 64 with the reference forward, decoding 8 rows of 32
     * new tokens, scoring 8 × 128), and the process's peak resident memory.
     */
    public Map<String, Object> runCheckpoint(Path dir) {
        LlamaConfig config = LlamaConfig.load(dir.resolve(Checkpoint.CONFIG_FILE));
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model", dir.toString());
        out.put("architecture", config.variant().architecture().className());
        out.put("params", config.parameterCount());
        double gflops = matmulGflops(1024);
        out.put("matmul_gflops", round(gflops));
        long start = System.nanoTime();
        // A fresh copy of the weights per training figure: the optimizer's state lives as long as the model does.
        try (Llama model = load(dir, config)) {
            out.put("load_s", round((System.nanoTime() - start) / 1e9));
            out.put("score_sequences_per_s", round(scoreSequencesPerSecond(model, 8, 128, 1)));
            out.put("score_sequences_per_s_k4", round(scoreSequencesPerSecond(model, 8, 128, 4)));
            out.put("decode_tokens_per_s_kv", round(decodeTokensPerSecond(model, true, 8, 32)));
        }
        try (Llama model = load(dir, config)) {
            double trainTokens = trainTokensPerSecond(model, 4, 128);
            out.put("train_tokens_per_s", round(trainTokens));
            out.put("mfu", round(6.0 * config.parameterCount() * trainTokens / (gflops * 1e9)));
        }
        try (Llama model = load(dir, config)) {
            out.put("dpo_step_ms", round(dpoStepMs(model, 4, 64, true, true, this::median)));
        }
        out.put("peak_rss_mb", peakResidentMegabytes());
        return out;
    }

    private Llama load(Path dir, LlamaConfig config) {
        NDManager manager = root.newSubManager();
        return Llama.of(config, manager, Checkpoint.loadModel(dir, config, manager));
    }

    /** VmHWM of /proc/self/status (Linux), or −1 where there is none. */
    static long peakResidentMegabytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** Rows i and i + pairs share a random prompt; every response is random. */
    private static SequenceBatch pairBatch(LlamaConfig config, int pairs, int promptLength, int responseLength) {
        Random rng = new Random(pairs * 37L + promptLength);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < 2 * pairs; i++) {
            prompts.add(i < pairs ? rng.ints(promptLength, 0, config.vocabSize()).toArray() : prompts.get(i - pairs));
            responses.add(rng.ints(responseLength, 0, config.vocabSize()).toArray());
        }
        return SequenceBatch.of(prompts, responses, 0);
    }

    private static SequenceBatch randomBatch(LlamaConfig config, int rows, int promptLength, int responseLength) {
        return sharedPromptBatch(config, rows, 1, promptLength, responseLength);
    }

    /** Each run of {@code k} consecutive rows shares a random prompt; every response is random. */
    private static SequenceBatch sharedPromptBatch(LlamaConfig config, int rows, int k, int promptLength,
            int responseLength) {
        Random rng = new Random(rows * 31L + promptLength);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            prompts.add(i % k == 0 ? rng.ints(promptLength, 0, config.vocabSize()).toArray() : prompts.get(i - 1));
            responses.add(rng.ints(responseLength, 0, config.vocabSize()).toArray());
        }
        return SequenceBatch.of(prompts, responses, 0);
    }

    /** Median seconds of {@code repeats} timed runs after two warm-up runs. */
    private double median(Runnable work) {
        work.run();
        work.run();
        double[] times = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long start = System.nanoTime();
            work.run();
            times[i] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(times);
        return times[repeats / 2];
    }

    private static double meanAfterWarmUp(Runnable work, int warmUp, int steps) {
        for (int i = 0; i < warmUp; i++) {
            work.run();
        }
        long start = System.nanoTime();
        for (int i = 0; i < steps; i++) {
            work.run();
        }
        return (System.nanoTime() - start) / 1e9 / steps;
    }

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }
}
