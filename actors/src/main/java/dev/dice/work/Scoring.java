package dev.dice.work;

import ai.djl.ndarray.NDScope;
import dev.dice.gpu.Autograd;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.SequenceBatch;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.Prompt;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Summed response log-probs, log π(y|x), without gradients, in batches; rows that share a prompt run it once. */
public final class Scoring {
    private final int batchRows;
    private final int threads;

    public Scoring(int batchRows) {
        this(batchRows, 0);
    }

    /** {@code threads}: libtorch intra-op threads of the scoring thread (0: the JVM's). */
    public Scoring(int batchRows, int threads) {
        this.batchRows = batchRows;
        this.threads = threads;
    }

    /**
     * Scores every response of a shard under the policy (π_t) and the reference (π_{t−1}). A response that
     * ended on EOS is scored with its EOS: the implicit reward compares complete sequences.
     */
    public ScoredShard score(Policy policy, Policy reference, GeneratedShard shard) {
        Map<String, String> prompts = new HashMap<>();
        for (Prompt p : shard.getPromptsList()) {
            prompts.put(p.getId(), p.getText());
        }
        List<String> promptTexts = new ArrayList<>();
        List<String> responses = new ArrayList<>();
        List<Boolean> eos = new ArrayList<>();
        for (Response r : shard.getResponsesList()) {
            promptTexts.add(prompts.get(r.getPromptId()));
            responses.add(r.getText());
            eos.add(r.getEndedOnEos());
        }
        double[] logpPolicy = logProbs(policy, promptTexts, responses, eos);
        double[] logpRef = logProbs(reference, promptTexts, responses, eos);
        ScoredShard.Builder out = ScoredShard.newBuilder().setJob(shard.getJob()).setShard(shard.getShard())
                .setPolicyVersion(policy.version()); // the version that produced the scores
        for (int i = 0; i < responses.size(); i++) {
            out.addResponses(ScoredResponse.newBuilder().setResponse(shard.getResponses(i))
                    .setLogpPolicy(logpPolicy[i]).setLogpRef(logpRef[i]));
        }
        return out.build();
    }

    /** log π(response_i | prompt_i) for each i; {@code withEos.get(i)} appends EOS to response i. */
    public double[] logProbs(Policy policy, List<String> prompts, List<String> responses, List<Boolean> withEos) {
        Autograd.off();
        IntraOpThreads.use(threads);
        double[] out = new double[prompts.size()];
        for (int from = 0; from < prompts.size(); from += batchRows) {
            int to = Math.min(prompts.size(), from + batchRows);
            List<int[]> p = new ArrayList<>();
            List<int[]> r = new ArrayList<>();
            for (int i = from; i < to; i++) {
                p.add(policy.promptTokens(prompts.get(i)));
                r.add(policy.responseTokens(responses.get(i), withEos.get(i)));
            }
            try (NDScope scope = new NDScope()) {
                // A shard lists a prompt's K responses together: each prompt runs once for all of them.
                float[] lp = SequenceBatch.of(p, r, policy.tokenizer().padId()).sharedPromptLogProbs(policy.model())
                        .toFloatArray();
                for (int i = from; i < to; i++) {
                    out[i] = lp[i - from];
                }
            }
        }
        return out;
    }
}
