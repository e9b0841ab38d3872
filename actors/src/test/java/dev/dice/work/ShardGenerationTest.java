package dev.dice.work;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.MemoryPlan;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Sampling;
import org.junit.jupiter.api.Test;

/**
 * A shard's responses depend on its seed only: not on how many rows were in flight, nor where that number came from,
 * nor on the intra-op threads of the worker that sampled them.
 */
class ShardGenerationTest {
    private static final Sampling SAMPLING = Sampling.newBuilder().setTemperature(1.0).setTopP(1.0).setMaxNewTokens(12)
            .build();

    @Test
    void rowsInFlightFromMemoryOrCountGiveTheSameResponses() {
        ByteTokenizer tokenizer = new ByteTokenizer();
        LlamaConfig config = new LlamaConfig(tokenizer.vocabSize(), 32, 64, 2, 4, 2, 64, 1e-5, 10000.0, false,
                tokenizer.bosId(), tokenizer.eosId());
        PromptShard.Builder shard = PromptShard.newBuilder().setJob("t").setShard(0).setSampling(SAMPLING)
                .setSamplesPerPrompt(3).setSeed(5);
        String[] texts = {"upper: cat", "reverse: a longer prompt here", "x", "count: 1 2 3"};
        for (int i = 0; i < texts.length; i++) {
            shard.addPrompts(Prompt.newBuilder().setId("p" + i).setText(texts[i]));
        }
        try (NDManager root = NDManager.newBaseManager();
                Policy policy = new Policy(Llama.init(config, root.newSubManager(), 7), tokenizer, 0)) {
            GeneratedShard all = new ShardGeneration(64).generate(policy, shard.build());
            GeneratedShard two = new ShardGeneration(2).generate(policy, shard.build());
            // Memory for about five rows of the longest prompt and the limit.
            long five = MemoryPlan.of(config, new MemoryPlan.Settings(1, 1L << 30, 0, false, 64, 64, 5, 32, 12, 1,
                    1 << 20)).generator().peak();
            GeneratedShard sized = new ShardGeneration(64, five, 0).generate(policy, shard.build());
            assertEquals(12, all.getResponsesCount());
            assertEquals(all.getResponsesList(), two.getResponsesList());
            assertEquals(all.getResponsesList(), sized.getResponsesList());
            assertTrue(all.getResponsesList().stream().anyMatch(r -> r.getTokens() > 0));
            BadInputException e = assertThrows(BadInputException.class,
                    () -> new ShardGeneration(64, 1000, 0).generate(policy, shard.build()));
            assertTrue(e.getMessage().startsWith("dice.cluster.generator-memory: 1000 bytes hold not even one row"),
                    e.getMessage());
        }
    }

    @Test
    void generatorsOfOneAndTwoThreadsSideBySideGiveTheSameResponses() throws Exception {
        ByteTokenizer tokenizer = new ByteTokenizer();
        // The built-in model's shapes: products large enough for libtorch to split them over threads.
        LlamaConfig config = new LlamaConfig(tokenizer.vocabSize(), 128, 384, 3, 4, 4, 96, 1e-5, 10000.0, true,
                tokenizer.bosId(), tokenizer.eosId());
        PromptShard.Builder shard = PromptShard.newBuilder().setJob("t").setShard(0).setSampling(SAMPLING
                .toBuilder().setTemperature(0.7).setTopP(0.9).setMaxNewTokens(24)).setSamplesPerPrompt(4).setSeed(11);
        for (int i = 0; i < 8; i++) {
            shard.addPrompts(Prompt.newBuilder().setId("p" + i).setText("add: " + i + " and " + (7 * i)));
        }
        try (NDManager root = NDManager.newBaseManager();
                Policy one = new Policy(Llama.init(config, root.newSubManager(), 3), tokenizer, 0);
                Policy two = new Policy(Llama.init(config, root.newSubManager(), 3), tokenizer, 0)) {
            int mainThreads = IntraOpThreads.current();
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                var a = pool.submit(() -> new Object[] {new ShardGeneration(64, 0, 1).generate(one, shard.build()),
                        IntraOpThreads.current()});
                var b = pool.submit(() -> new Object[] {new ShardGeneration(64, 0, 2).generate(two, shard.build()),
                        IntraOpThreads.current()});
                assertEquals(1, a.get()[1], "the first generator's thread runs libtorch on one thread");
                assertEquals(2, b.get()[1], "the second's on two");
                assertEquals(((GeneratedShard) a.get()[0]).getResponsesList(), ((GeneratedShard) b.get()[0])
                        .getResponsesList());
                assertTrue(((GeneratedShard) a.get()[0]).getResponsesList().stream().anyMatch(r -> r.getTokens() > 0));
            } finally {
                pool.shutdownNow();
            }
            assertEquals(mainThreads, IntraOpThreads.current(), "other threads' counts leave this thread's alone");
        }
    }
}
