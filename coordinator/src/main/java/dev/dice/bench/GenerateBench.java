package dev.dice.bench;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import dev.dice.gpu.Autograd;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Generator;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.SequenceBatch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Static against continuous batching, side by side: the same rows (K samples of each prompt, every prompt prefilled
 * once in both) at the same number of rows decoded at once, for two response-length distributions. Random weights do
 * not end turns on a chosen distribution, so the lengths are each row's own token limit and no token stops a row:
 * what batching costs depends only on how many tokens each row produces.
 * <ul>
 *   <li>long tail: 90 % of rows end within a quarter of the limit (uniformly), 10 % run to it;
 *   <li>uniform: every row runs to the limit (nothing for continuous batching to refill).
 * </ul>
 * Tokens per second are medians over alternating repetitions. The same rows are then scored with and without sharing
 * each prompt's pass among its K rows.
 */
public final class GenerateBench {
    private final NDManager root;
    private final int repeats;

    public GenerateBench(NDManager root, int repeats) {
        this.root = root;
        this.repeats = repeats;
    }

    /** The built-in model's shapes with random weights, or the checkpoint in {@code dir}. */
    public Map<String, Object> run(LlamaConfig builtin, Path dir, int prompts, int k, int rowsInFlight, int limit) {
        LlamaConfig config = dir != null ? LlamaConfig.load(dir.resolve(Checkpoint.CONFIG_FILE)) : builtin;
        NDManager manager = root.newSubManager();
        try (Llama model = dir != null ? Llama.of(config, manager, Checkpoint.loadModel(dir, config, manager))
                : Llama.init(config, manager, 3)) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("model", dir != null ? dir.toString() : "builtin");
            out.put("params", config.parameterCount());
            out.put("rows", prompts * k);
            out.put("samples_per_prompt", k);
            out.put("rows_in_flight", rowsInFlight);
            out.put("max_new_tokens", limit);
            Random random = new Random(11);
            List<int[]> rows = rows(random, config, prompts, k, limit);
            long[] seeds = random.longs(rows.size()).toArray();
            int[] longTail = new int[rows.size()];
            for (int i = 0; i < longTail.length; i++) {
                longTail[i] = longTailLength(random, limit);
            }
            int[] uniform = new int[rows.size()];
            Arrays.fill(uniform, limit);
            Generator generator = new Generator(model, List.of(), 0);
            Generator.Params params = new Generator.Params(1.0, 1.0, limit);
            Generator.Batching batching = new Generator.Batching(rowsInFlight, Generator.Batching.DEFAULT_PREFILL_TOKENS);
            Map<String, int[]> distributions = new LinkedHashMap<>();
            distributions.put("long_tail", longTail);
            distributions.put("uniform", uniform);
            for (Map.Entry<String, int[]> lengths : distributions.entrySet()) {
                int[] limits = lengths.getValue();
                double tokens = Arrays.stream(limits).sum();
                double[] times = alternate(
                        () -> staticBatches(generator, rows, params, seeds, limits, rowsInFlight, k),
                        () -> generator.generate(rows, params, seeds, limits, batching));
                String name = lengths.getKey();
                out.put("static_tokens_per_s_" + name, Figures.round(tokens / times[0]));
                out.put("continuous_tokens_per_s_" + name, Figures.round(tokens / times[1]));
                out.put("continuous_vs_static_" + name, Figures.round(times[0] / times[1]));
            }
            scoring(out, model, rows, random, rowsInFlight, limit);
            return out;
        }
    }

    /**
     * Scoring the same rows with responses of the long-tailed lengths, in batches of {@code rowsInFlight}: every row
     * its own prompt pass, against each distinct prompt once for its K rows.
     */
    private void scoring(Map<String, Object> out, Llama model, List<int[]> rows, Random random, int batchRows,
            int limit) {
        List<SequenceBatch> batches = new ArrayList<>();
        for (int from = 0; from < rows.size(); from += batchRows) {
            List<int[]> prompts = rows.subList(from, Math.min(rows.size(), from + batchRows));
            List<int[]> responses = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                responses.add(random.ints(longTailLength(random, limit), 3, model.config().vocabSize()).toArray());
            }
            batches.add(SequenceBatch.of(prompts, responses, 0));
        }
        Autograd.off();
        double[] times = alternate(() -> batches.forEach(b -> score(b, model, false)),
                () -> batches.forEach(b -> score(b, model, true)));
        out.put("scoring_rows_per_s_unshared", Figures.round(rows.size() / times[0]));
        out.put("scoring_rows_per_s_shared", Figures.round(rows.size() / times[1]));
        out.put("shared_prompt_scoring_speedup", Figures.round(times[0] / times[1]));
    }

    private static void score(SequenceBatch batch, Llama model, boolean shared) {
        try (NDScope scope = new NDScope()) {
            (shared ? batch.sharedPromptLogProbs(model) : batch.responseLogProbs(model)).toFloatArray();
        }
    }

    /** 90 % of lengths within a quarter of the limit (uniformly), 10 % at the limit. */
    private static int longTailLength(Random random, int limit) {
        return random.nextDouble() < 0.9 ? 1 + random.nextInt(Math.max(1, limit / 4)) : limit;
    }

    /** K copies of each of {@code prompts} random prompts of 8 to 32 tokens, shortened to leave room for the limit. */
    private static List<int[]> rows(Random random, LlamaConfig config, int prompts, int k, int limit) {
        int longest = Math.max(1, Math.min(32, config.context() - limit - 1));
        List<int[]> out = new ArrayList<>();
        for (int p = 0; p < prompts; p++) {
            int[] prompt = random.ints(Math.min(longest, 8 + random.nextInt(25)), 3, config.vocabSize()).toArray();
            for (int c = 0; c < k; c++) {
                out.add(prompt);
            }
        }
        return out;
    }

    /** Static batching as a generator used it: batches of whole K-groups, each decoded until its longest row ends. */
    private static void staticBatches(Generator generator, List<int[]> rows, Generator.Params params, long[] seeds,
            int[] limits, int rowsInFlight, int k) {
        int batch = Math.max(k, rowsInFlight - rowsInFlight % k);
        for (int from = 0; from < rows.size(); from += batch) {
            int to = Math.min(rows.size(), from + batch);
            generator.generateStatic(rows.subList(from, to), params, Arrays.copyOfRange(seeds, from, to),
                    Arrays.copyOfRange(limits, from, to));
        }
    }

    /** Median seconds of each, after one warm-up each, the two alternating. */
    private double[] alternate(Runnable first, Runnable second) {
        first.run();
        second.run();
        double[][] times = new double[2][repeats];
        for (int r = 0; r < repeats; r++) {
            times[0][r] = seconds(first);
            times[1][r] = seconds(second);
        }
        return new double[] {Figures.median(times[0]), Figures.median(times[1])};
    }

    private static double seconds(Runnable work) {
        long start = System.nanoTime();
        work.run();
        return (System.nanoTime() - start) / 1e9;
    }
}
