package dev.dice.bench;

import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code dice bench alpha}: the exact α* sweep on 10,000 prompts of 16 candidates each (a round far larger than the
 * default's 800 × 8), rewards that favour length as they do in practice, 5% of candidates invalid. The goal is well
 * under a second per sweep; the median of {@code repeats} timed sweeps after one warm-up is reported.
 */
public final class AlphaBench {
    private AlphaBench() {}

    public static Map<String, Object> run(int prompts, int k, int repeats) {
        List<Candidate> all = instance(prompts, k, new SplittableRandom(11));
        int minValid = k / 2;
        AlphaSearch.Result result = AlphaSearch.search(all, minValid); // warm up the JIT
        double[] millis = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long start = System.nanoTime();
            result = AlphaSearch.search(all, minValid);
            millis[i] = (System.nanoTime() - start) / 1e6;
        }
        Arrays.sort(millis);
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("prompts", prompts);
        out.put("k", k);
        out.put("intervals", result.intervals());
        out.put("alpha", result.alpha());
        out.put("median_ms", Math.round(millis[repeats / 2] * 10) / 10.0);
        out.put("min_ms", Math.round(millis[0] * 10) / 10.0);
        out.put("max_ms", Math.round(millis[repeats - 1] * 10) / 10.0);
        return out;
    }

    private static List<Candidate> instance(int prompts, int k, SplittableRandom random) {
        List<Candidate> all = new ArrayList<>();
        for (int p = 0; p < prompts; p++) {
            double lengthTaste = random.nextDouble(0.001, 0.02);
            for (int s = 0; s < k; s++) {
                int length = 20 + random.nextInt(600);
                all.add(new Candidate("p" + p, s, random.nextGaussian() * 3 + lengthTaste * length, 0.0, length,
                        random.nextDouble() < 0.95));
            }
        }
        return all;
    }
}
