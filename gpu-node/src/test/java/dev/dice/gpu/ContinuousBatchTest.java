package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Continuous batching samples exactly what each row samples alone, however its rows are scheduled. */
class ContinuousBatchTest {
    static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager();
        Autograd.off();
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    /** Prompts of 2 to 13 tokens, K = 3 samples of each, interleaved; seeds per row. */
    private static List<int[]> prompts(int distinct, int k) {
        Random random = new Random(7);
        List<int[]> unique = new ArrayList<>();
        for (int u = 0; u < distinct; u++) {
            int[] p = new int[2 + random.nextInt(12)];
            p[0] = 1;
            for (int j = 1; j < p.length; j++) {
                p[j] = 3 + random.nextInt(29);
            }
            unique.add(p);
        }
        List<int[]> rows = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            rows.addAll(unique);
        }
        return rows;
    }

    @Test
    void everySchedulingSamplesWhatEachRowSamplesAlone() {
        try (Llama model = TinyModels.model(root, 21)) {
            List<int[]> prompts = prompts(7, 3);
            long[] seeds = new Random(5).longs(prompts.size()).toArray();
            Generator.Params params = new Generator.Params(1.0, 0.95, 12);
            // Stop ids that end some rows early and let others run to the limit.
            Generator gen = new Generator(model, List.of(2, 17), 0);
            List<Generator.Sample> alone = new ArrayList<>();
            for (int i = 0; i < prompts.size(); i++) {
                alone.add(gen.generate(List.of(prompts.get(i)), params, new long[] {seeds[i]},
                        new Generator.Batching(1, 512)).get(0));
            }
            long early = alone.stream().filter(s -> s.endedOnEos() && s.tokens().length < 6).count();
            long limit = alone.stream().filter(s -> !s.endedOnEos()).count();
            assertTrue(early > 0 && limit > 0, "rows end at different steps: " + early + " early, " + limit + " at the limit");
            // Fewer slots than rows (slots refill), prefill chunks shorter than most prompts, and everything at once.
            for (Generator.Batching batching : List.of(new Generator.Batching(4, 3), new Generator.Batching(5, 1),
                    new Generator.Batching(64, 512), new Generator.Batching(2, 40))) {
                List<Generator.Sample> batched = gen.generate(prompts, params, seeds, batching);
                for (int i = 0; i < prompts.size(); i++) {
                    assertArrayEquals(alone.get(i).tokens(), batched.get(i).tokens(), batching + " row " + i);
                    assertEquals(alone.get(i).stopToken(), batched.get(i).stopToken(), batching + " row " + i);
                }
            }
        }
    }

    @Test
    void aRowEndingOnItsFirstTokenTakesNoSlot() {
        try (Llama model = TinyModels.model(root, 22)) {
            List<int[]> prompts = prompts(4, 2);
            long[] seeds = new Random(9).longs(prompts.size()).toArray();
            Generator.Params greedy = new Generator.Params(0, 1, 6);
            int first = new Generator(model, List.of(), 0).generate(List.of(prompts.get(0)), greedy,
                    new long[] {seeds[0]}).get(0).tokens()[0];
            Generator gen = new Generator(model, List.of(first), 0);
            List<Generator.Sample> batched = gen.generate(prompts, greedy, seeds, new Generator.Batching(3, 4));
            assertEquals(0, batched.get(0).tokens().length);
            assertEquals(first, batched.get(0).stopToken());
            for (int i = 0; i < prompts.size(); i++) {
                Generator.Sample alone = gen.generate(List.of(prompts.get(i)), greedy, new long[] {seeds[i]}).get(0);
                assertArrayEquals(alone.tokens(), batched.get(i).tokens(), "row " + i);
            }
        }
    }

    /**
     * Static batching (the benchmark's baseline) and continuous batching agree where no row reaches the context, also
     * with a token limit of each row's own.
     */
    @Test
    void staticAndContinuousBatchingAgree() {
        try (Llama model = TinyModels.model(root, 23)) {
            List<int[]> prompts = prompts(5, 4);
            long[] seeds = new Random(3).longs(prompts.size()).toArray();
            int[] limits = new Random(4).ints(prompts.size(), 1, 11).toArray();
            Generator.Params params = new Generator.Params(0.8, 1.0, 10);
            Generator gen = new Generator(model, List.of(2, 9), 0);
            List<Generator.Sample> fixed = gen.generateStatic(prompts, params, seeds, limits);
            List<Generator.Sample> continuous = gen.generate(prompts, params, seeds, limits, new Generator.Batching(6, 8));
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(fixed.get(i).tokens(), continuous.get(i).tokens(), "row " + i);
                assertTrue(continuous.get(i).tokens().length <= limits[i], "row " + i);
            }
        }
    }
}
