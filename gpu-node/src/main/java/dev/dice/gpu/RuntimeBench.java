package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
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
        return new LlamaConfig(260, 128, 512, 2, 4, 4, 64, 1e-5, 10000.0, false, 256, 257);
    }

    public Map<String, Object> run(LlamaConfig builtin) {
        Map<String, Object> out = new LinkedHashMap<>();
        double gflops = matmulGflops(512);
        out.put("matmul_gflops", round(gflops));
        double trainTokens = trainTokensPerSecond(builtin, 32, 64);
        out.put("train_tokens_per_s", round(trainTokens));
        out.put("params", builtin.parameterCount());
        out.put("mfu", round(6.0 * builtin.parameterCount() * trainTokens / (gflops * 1e9)));
        out.put("dpo_step_ms", round(dpoStepMs(peerShapes(), 32, false)));
        out.put("dpo_step_ms_with_ref_forward", round(dpoStepMs(peerShapes(), 32, true)));
        double kv = decodeTokensPerSecond(builtin, true);
        double recompute = decodeTokensPerSecond(builtin, false);
        out.put("decode_tokens_per_s_kv", round(kv));
        out.put("decode_tokens_per_s_recompute", round(recompute));
        out.put("kv_speedup", round(kv / recompute));
        out.put("score_sequences_per_s", round(scoreSequencesPerSecond(builtin, 64, 64)));
        return out;
    }

    /** fp32 matmul peak: 2n³ flops per n×n product. */
    double matmulGflops(int n) {
        Autograd.off();
        try (NDManager m = root.newSubManager()) {
            NDArray a = m.randomNormal(new Shape(n, n));
            NDArray b = m.randomNormal(new Shape(n, n));
            int inner = 20;
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

    double trainTokensPerSecond(LlamaConfig config, int batch, int length) {
        try (Llama model = Llama.init(config, root.newSubManager(), 1)) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 1.0));
            SequenceBatch data = randomBatch(config, batch, 1, length - 1);
            double seconds = median(() -> {
                trainer.sft(data, 1.0);
                trainer.step();
            });
            return batch * (length - 1) / seconds;
        }
    }

    double dpoStepMs(LlamaConfig config, int pairs, boolean referenceForward) {
        try (Llama model = Llama.init(config, root.newSubManager(), 2); Llama reference = model.copy()) {
            Trainer trainer = new Trainer(model, Trainer.Settings.of(LrSchedule.constant(1e-4, 1), 0));
            SequenceBatch data = randomBatch(config, 2 * pairs, 32, 32);
            float[] refs = new float[2 * pairs];
            double seconds = median(() -> {
                float[] r = refs;
                if (referenceForward) {
                    Autograd.off();
                    try (NDScope scope = new NDScope()) {
                        r = data.responseLogProbs(reference).toFloatArray();
                    }
                }
                trainer.dpo(data, Arrays.copyOfRange(r, 0, pairs), Arrays.copyOfRange(r, pairs, 2 * pairs), 0.1, 1.0);
                trainer.step();
            });
            return seconds * 1000;
        }
    }

    /** Batch 64, 32 new tokens after a 16-token prompt; EOS disabled so every row decodes all 32. */
    double decodeTokensPerSecond(LlamaConfig config, boolean cache) {
        try (Llama model = Llama.init(config, root.newSubManager(), 3)) {
            Generator generator = new Generator(model, -1, 0);
            List<int[]> prompts = new ArrayList<>();
            Random rng = new Random(5);
            for (int i = 0; i < 64; i++) {
                prompts.add(rng.ints(16, 3, config.vocabSize()).toArray());
            }
            long[] seeds = rng.longs(64).toArray();
            Generator.Params params = new Generator.Params(1.0, 1.0, 32);
            double seconds = median(() -> {
                if (cache) {
                    generator.generate(prompts, params, seeds);
                } else {
                    generator.generateWithoutCache(prompts, params, seeds);
                }
            });
            return 64 * 32 / seconds;
        }
    }

    double scoreSequencesPerSecond(LlamaConfig config, int batch, int length) {
        try (Llama model = Llama.init(config, root.newSubManager(), 4)) {
            SequenceBatch data = randomBatch(config, batch, length / 2, length / 2);
            double seconds = median(() -> {
                Autograd.off();
                try (NDScope scope = new NDScope()) {
                    data.responseLogProbs(model).toFloatArray();
                }
            });
            return batch / seconds;
        }
    }

    private static SequenceBatch randomBatch(LlamaConfig config, int rows, int promptLength, int responseLength) {
        Random rng = new Random(rows * 31L + promptLength);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            prompts.add(rng.ints(promptLength, 0, config.vocabSize()).toArray());
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

    private static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }
}
