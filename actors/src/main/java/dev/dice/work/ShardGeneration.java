package dev.dice.work;

import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Generator;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.MemoryPlan;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.Sampling;
import java.util.ArrayList;
import java.util.List;

/**
 * Samples K responses per prompt of a shard with a policy, as the shard's sampling settings say. Each response's RNG
 * seed depends only on the shard's seed, the prompt id and the sample index, so re-sending a shard (after a failure,
 * to another worker) reproduces the same responses.
 */
public final class ShardGeneration {
    private final int batchRows;
    private final long memoryBytes;
    private final int threads;

    /** {@code batchRows}: rows in flight (a finished row's slot takes the next row of the shard at once). */
    public ShardGeneration(int batchRows) {
        this(batchRows, 0, 0);
    }

    /**
     * {@code memoryBytes} > 0: as many rows in flight as that memory holds for the shard's prompts and limit;
     * {@code threads}: libtorch intra-op threads of the generating thread (0: the JVM's). Responses do not depend on
     * either.
     */
    public ShardGeneration(int batchRows, long memoryBytes, int threads) {
        this.batchRows = batchRows;
        this.memoryBytes = memoryBytes;
        this.threads = threads;
    }

    public GeneratedShard generate(Policy policy, PromptShard shard) {
        IntraOpThreads.use(threads);
        Sampling sampling = shard.getSampling();
        Generator.Params params = new Generator.Params(sampling.getTemperature(), sampling.getTopP(),
                sampling.getMaxNewTokens());
        int minChars = sampling.getMinResponseChars();
        Generator generator = new Generator(policy.model(), policy.stopIds(), policy.tokenizer().padId());
        int k = Math.max(1, shard.getSamplesPerPrompt());
        List<int[]> rows = new ArrayList<>();
        List<long[]> ids = new ArrayList<>(); // (prompt index, sample)
        for (int p = 0; p < shard.getPromptsCount(); p++) {
            int[] tokens = policy.promptTokens(shard.getPrompts(p).getText());
            for (int s = 0; s < k; s++) {
                rows.add(tokens);
                ids.add(new long[] {p, s});
            }
        }
        GeneratedShard.Builder out = GeneratedShard.newBuilder().setJob(shard.getJob()).setShard(shard.getShard())
                .setPolicyVersion(policy.version()).addAllPrompts(shard.getPromptsList());
        long[] seeds = new long[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            Prompt prompt = shard.getPrompts((int) ids.get(i)[0]);
            seeds[i] = Seeds.of(shard.getSeed(), prompt.getId(), (int) ids.get(i)[1]);
        }
        List<Generator.Sample> samples = generator.generate(rows, params, seeds, batching(policy, rows, params));
        for (int i = 0; i < rows.size(); i++) {
            Generator.Sample sample = samples.get(i);
            String visible = policy.tokenizer().decode(sample.tokens());
            out.addResponses(Response.newBuilder()
                    .setPromptId(shard.getPrompts((int) ids.get(i)[0]).getId())
                    .setSample((int) ids.get(i)[1])
                    .setText(policy.responseText(visible, sample.stopToken()))
                    .setTokens(sample.tokens().length)
                    .setEndedOnEos(sample.endedOnEos())
                    .setValid(sample.endedOnEos() && visible.strip().length() >= minChars));
        }
        return out.build();
    }

    private Generator.Batching batching(Policy policy, List<int[]> rows, Generator.Params params) {
        int inFlight = batchRows;
        if (memoryBytes > 0) {
            int longest = rows.stream().mapToInt(r -> r.length).max().orElse(1);
            inFlight = MemoryPlan.generatorRowsIn(policy.model().config(), memoryBytes, longest, params.maxNewTokens());
            if (inFlight == 0) {
                throw new BadInputException("dice.cluster.generator-memory: " + memoryBytes + " bytes hold not even one"
                        + " row of this model (prompt " + longest + " + " + params.maxNewTokens() + " tokens); see"
                        + " ./dice plan");
            }
        }
        return new Generator.Batching(inFlight, Generator.Batching.DEFAULT_PREFILL_TOKENS);
    }
}
