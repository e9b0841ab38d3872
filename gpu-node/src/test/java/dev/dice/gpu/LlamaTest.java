package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class LlamaTest {
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

    @Test
    void kvCachedLogitsEqualFullForward() {
        try (Llama model = TinyModels.model(root, 1)) {
            NDManager m = model.manager();
            int t = 10;
            long[] ids = new Random(3).longs(2L * t, 0, 32).toArray();
            NDArray tokens = m.create(ids, new Shape(2, t));
            NDArray positions = m.arange(0L, (long) t, 1L, DataType.INT64).reshape(1, t);
            float[] full = model.forward(tokens, positions, Masks.causal(m, t), null).toFloatArray();
            int vocab = 32;
            try (KvCache cache = new KvCache()) {
                int prefix = 6;
                model.forward(tokens.get(":, 0:" + prefix), positions.get(":, 0:" + prefix), Masks.causal(m, prefix), cache);
                for (int j = prefix; j < t; j++) {
                    float[] step = model.forward(tokens.get(":, " + j + ":" + (j + 1)), positions.get(":, " + j + ":" + (j + 1)),
                            null, cache).toFloatArray();
                    for (int b = 0; b < 2; b++) {
                        for (int v = 0; v < vocab; v++) {
                            assertEquals(full[(b * t + j) * vocab + v], step[b * vocab + v], 1e-4, "row " + b + " pos " + j);
                        }
                    }
                }
                assertEquals(t, cache.length());
            }
        }
    }

    @Test
    void sequenceLogProbIsSumOfTokenLogSoftmax() {
        try (Llama model = TinyModels.model(root, 2)) {
            NDManager m = model.manager();
            int[] prompt = {1, 5, 6, 7};
            int[] response = {9, 10, 2};
            SequenceBatch batch = SequenceBatch.of(List.of(prompt, new int[] {1, 4}), List.of(response, new int[] {3}), 0);
            float[] scored = batch.responseLogProbs(model).toFloatArray();
            int[] seq = {1, 5, 6, 7, 9, 10, 2};
            long[] ids = new long[seq.length];
            for (int i = 0; i < seq.length; i++) {
                ids[i] = seq[i];
            }
            float[] logits = model.forward(m.create(ids, new Shape(1, seq.length)),
                    m.arange(0L, (long) seq.length, 1L, DataType.INT64).reshape(1, seq.length),
                    Masks.causal(m, seq.length), null).toFloatArray();
            double expected = 0;
            for (int pos = prompt.length - 1; pos < seq.length - 1; pos++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < 32; v++) {
                    max = Math.max(max, logits[pos * 32 + v]);
                }
                double z = 0;
                for (int v = 0; v < 32; v++) {
                    z += Math.exp(logits[pos * 32 + v] - max);
                }
                expected += logits[pos * 32 + seq[pos + 1]] - max - Math.log(z);
            }
            assertEquals(expected, scored[0], 1e-4);
        }
    }

    @Test
    void generationIsReproducibleAndBatchIndependent() {
        try (Llama model = TinyModels.model(root, 3)) {
            Generator gen = new Generator(model, List.of(2), 0);
            List<int[]> prompts = List.of(new int[] {1, 5, 6, 7, 8}, new int[] {1, 9}, new int[] {1, 3, 4});
            Generator.Params params = new Generator.Params(1.0, 0.9, 8);
            long[] seeds = {11, 12, 13};
            List<Generator.Sample> a = gen.generate(prompts, params, seeds);
            List<Generator.Sample> b = gen.generate(prompts, params, seeds);
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(a.get(i).tokens(), b.get(i).tokens());
            }
            // Greedy, a left-padded row decodes exactly what it decodes alone, with and without the cache.
            Generator.Params greedy = new Generator.Params(0, 1, 8);
            List<Generator.Sample> batched = gen.generate(prompts, greedy, seeds);
            List<Generator.Sample> recomputed = gen.generateWithoutCache(prompts, greedy, seeds);
            for (int i = 0; i < 3; i++) {
                Generator.Sample alone = gen.generate(List.of(prompts.get(i)), greedy, new long[] {seeds[i]}).get(0);
                assertArrayEquals(alone.tokens(), batched.get(i).tokens(), "row " + i);
                assertArrayEquals(alone.tokens(), recomputed.get(i).tokens(), "row " + i);
                assertTrue(alone.endedOnEos() || alone.tokens().length == 8);
            }
        }
    }

    @Test
    void promptLongerThanContextIsRefused() {
        try (Llama model = TinyModels.model(root, 4)) {
            Generator gen = new Generator(model, List.of(2), 0);
            BadInputException e = assertThrows(BadInputException.class,
                    () -> gen.generate(List.of(new int[40]), new Generator.Params(1, 1, 4), new long[] {1}));
            assertTrue(e.getMessage().contains("context (32 tokens"), e.getMessage());
        }
    }

    /** Mistral's sliding window: a prompt longer than the window is refused, though the position limit is larger. */
    @Test
    void slidingWindowBoundsTheContext() {
        LlamaConfig mistral = new LlamaConfig(32, 32, 64, 2, 4, 2, 32, 1e-5, 1e4, false, 1, 2,
                new Variant(Architecture.MISTRAL, 0, null, false, false, 12, java.util.List.of()));
        assertEquals(12, mistral.context());
        try (Llama model = Llama.init(mistral, root.newSubManager(), 5)) {
            Generator gen = new Generator(model, List.of(), 0);
            assertEquals(12 - 10, gen.generate(List.of(new int[10]), new Generator.Params(0, 1, 8), new long[] {1})
                    .get(0).tokens().length, "generation stops at the window");
            assertThrows(BadInputException.class,
                    () -> gen.generate(List.of(new int[12]), new Generator.Params(1, 1, 4), new long[] {1}));
        }
    }

    /** K samples of a prompt prefilled once: each row samples exactly what it samples alone, in any row order. */
    @Test
    void sharedPrefillSamplesWhatEachRowSamplesAlone() {
        try (Llama model = TinyModels.model(root, 6)) {
            Generator gen = new Generator(model, List.of(2), 0);
            int[][] distinct = {{1, 5, 6, 7, 8, 9, 3}, {1, 9}, {1, 3, 4, 4}};
            Generator.Params params = new Generator.Params(1.0, 0.9, 10);
            for (boolean interleaved : new boolean[] {false, true}) {
                List<int[]> prompts = new java.util.ArrayList<>();
                for (int i = 0; i < 12; i++) {
                    prompts.add(distinct[interleaved ? i % 3 : i / 4]);
                }
                long[] seeds = new java.util.Random(interleaved ? 2 : 1).longs(12).toArray();
                List<Generator.Sample> shared = gen.generate(prompts, params, seeds);
                for (int i = 0; i < 12; i++) {
                    Generator.Sample alone = gen.generate(List.of(prompts.get(i)), params, new long[] {seeds[i]}).get(0);
                    assertArrayEquals(alone.tokens(), shared.get(i).tokens(), "row " + i);
                    assertEquals(alone.stopToken(), shared.get(i).stopToken(), "row " + i);
                }
                assertEquals(null, PromptCopies.of(List.of(distinct)), "every prompt once: nothing to share");
                assertTrue(PromptCopies.of(prompts) != null);
            }
        }
    }

    /** Any of several stop ids ends a response, and the sample says which one. */
    @Test
    void everyStopIdEndsAResponse() {
        try (Llama model = TinyModels.model(root, 3)) {
            List<int[]> prompts = List.of(new int[] {1, 5, 6, 7, 8}, new int[] {1, 9}, new int[] {1, 3, 4});
            long[] seeds = {21, 22, 23};
            Generator.Params params = new Generator.Params(1.0, 1.0, 12);
            List<Generator.Sample> free = new Generator(model, List.of(), 0).generate(prompts, params, seeds);
            for (int i = 0; i < prompts.size(); i++) {
                int[] tokens = free.get(i).tokens();
                assertEquals(-1, free.get(i).stopToken());
                // Stop on the third token sampled and on the fifth: the first of them to come ends the row.
                List<Integer> stops = List.of(tokens[4], tokens[2]);
                Generator.Sample stopped = new Generator(model, stops, 0).generate(List.of(prompts.get(i)), params,
                        new long[] {seeds[i]}).get(0);
                int first = 0;
                while (!stops.contains(tokens[first])) {
                    first++;
                }
                assertEquals(tokens[first], stopped.stopToken(), "row " + i);
                assertArrayEquals(java.util.Arrays.copyOf(tokens, first), stopped.tokens(), "row " + i);
            }
        }
    }

    /**
     * Released gradients are gone and the values stay; the next backward pass starts them afresh (not on top of the
     * released ones). Both kinds of parameter: on libtorch's memory ({@code Llama.init}) and on Java buffers (made
     * with {@code create(float[])}, copied at their first release), the latter checked after a garbage collection.
     */
    @Test
    void releasedGradientsAreGoneAndTheNextBackwardStartsAfresh() {
        try (Llama made = TinyModels.model(root, 4)) {
            NDManager javaOwned = root.newSubManager();
            Map<String, NDArray> weights = new LinkedHashMap<>();
            made.parameters().forEach((name, p) -> weights.put(name, javaOwned.create(p.toFloatArray(), p.getShape())));
            for (Llama model : List.of(made, Llama.of(made.config(), javaOwned, weights))) {
                model.requireGradients();
                SequenceBatch batch = SequenceBatch.of(List.of(new int[] {3, 4}, new int[] {5}),
                        List.of(new int[] {6, 7, 8}, new int[] {9, 10}), 0);
                Supplier<NDArray> loss = () -> batch.responseLogProbs(model).sum().neg();
                try (NDScope scope = new NDScope()) {
                    Autograd.backward(Autograd.recording(loss::get));
                }
                Map<String, float[]> values = new LinkedHashMap<>();
                model.parameters().forEach((name, p) -> values.put(name, p.toFloatArray()));
                Map<String, NDArray> before = new HashMap<>(model.parameters());
                for (int round = 0; round < 2; round++) { // the first release of a Java buffer copies, the second not
                    model.releaseGradients(model.parameters().keySet());
                    System.gc();
                    for (String name : values.keySet()) {
                        try (NDArray g = Autograd.gradient(model.parameters().get(name))) {
                            assertNull(g, name + ": released");
                        }
                        assertTrue(model.parameters().get(name) != before.get(name), name + ": a new leaf");
                        assertArrayEquals(values.get(name), model.parameters().get(name).toFloatArray(), name);
                    }
                }
                Map<String, float[]> again = TinyModels.gradients(model, loss);
                Map<String, float[]> fresh = TinyModels.gradients(model, loss); // zeroed, then once more
                for (String name : values.keySet()) {
                    assertArrayEquals(fresh.get(name), again.get(name), name + ": one backward's gradient");
                }
                float largest = 0;
                for (float g : again.get("lm_head.weight")) {
                    largest = Math.max(largest, Math.abs(g));
                }
                assertTrue(largest > 0, "the head has a gradient");
            }
            javaOwned.close();
        }
    }

    @Test
    void topPKeepsOnlyTheNucleus() {
        float[] logits = {0f, (float) Math.log(6), (float) Math.log(3), 0f}; // probs 1/11, 6/11, 3/11, 1/11
        Generator.Params params = new Generator.Params(1.0, 0.6, 1);
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        int[] counts = new int[4];
        for (int i = 0; i < 4000; i++) {
            counts[Generator.sample(logits, 0, 4, params, rng)]++;
        }
        assertEquals(0, counts[0] + counts[3]);
        assertEquals(4000 * 6.0 / 9, counts[1], 150); // renormalised over {1, 2}
    }
}
