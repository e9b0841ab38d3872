package dev.dice.bench;

import ai.djl.ndarray.NDManager;
import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import dev.dice.algo.PairSelection;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Sampling;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.task.BuiltinTask;
import dev.dice.task.Prompt;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import dev.dice.work.Training;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code dice bench round}: the cost of one DICE round split by stage, at several prompt counts and K. Stages
 * run one after another in this thread (no pipelining) so each is timed alone. Responses end on EOS as in a run,
 * which the untrained models here sample about once in 259 tokens, so nearly every response decodes the full
 * {@code maxNewTokens}: close to the worst case, and about the same work whatever the seed.
 * Training runs one epoch over the round's training set (generated pairs plus as many replayed offline
 * pairs at γ = 0.5), as in the paper.
 */
public final class RoundBench {
    private final LlamaConfig config;
    private final int maxNewTokens;
    private final int batchRows;

    public RoundBench(LlamaConfig config, int maxNewTokens, int batchRows) {
        this.config = config;
        this.maxNewTokens = maxNewTokens;
        this.batchRows = batchRows;
    }

    /** One warm-up, then 64, 128 and 256 prompts at K = 4 and 8; each row is echoed to stderr as it is measured. */
    public Map<String, Object> sweep() {
        measure(16, 2);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int k : new int[] {4, 8}) {
            for (int prompts : new int[] {64, 128, 256}) {
                rows.add(measure(prompts, k));
                System.err.println(rows.get(rows.size() - 1));
            }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("max_new_tokens", maxNewTokens);
        result.put("rows", rows);
        return result;
    }

    public Map<String, Object> measure(int prompts, int k) {
        BuiltinTask task = new BuiltinTask(1);
        // Every response decodes in full, so only prompts leaving room for maxNewTokens (+ BOS, newline, EOS) fit.
        List<Prompt> list = task.prompts("round1", 4 * prompts).stream()
                .filter(p -> p.text().getBytes(java.nio.charset.StandardCharsets.UTF_8).length + maxNewTokens + 3
                        <= config.maxPositionEmbeddings())
                .limit(prompts).toList();
        PromptShard.Builder shard = PromptShard.newBuilder().setJob("bench").setSamplesPerPrompt(k).setSeed(7)
                .setSampling(Sampling.newBuilder().setTemperature(0.7).setTopP(0.9).setMaxNewTokens(maxNewTokens));
        list.forEach(p -> shard.addPrompts(dev.dice.proto.Prompt.newBuilder().setId(p.id()).setText(p.text())));
        try (NDManager root = NDManager.newBaseManager()) {
            Latin1 bytes = new Latin1(new ByteTokenizer().eosId());
            Policy policy = new Policy(Llama.init(config, root.newSubManager(), 1), bytes, 0);
            // Another initialisation as the reference, so that implicit rewards differ and pairs exist.
            Policy reference = new Policy(Llama.init(config, root.newSubManager(), 2), bytes, -1);
            long t0 = System.nanoTime();
            GeneratedShard generated = new ShardGeneration(batchRows)
                    .generate(policy, shard.build());
            long t1 = System.nanoTime();
            ScoredShard scored = new Scoring(batchRows).score(policy, reference, generated);
            long t2 = System.nanoTime();
            List<Candidate> candidates = new ArrayList<>();
            for (ScoredResponse s : scored.getResponsesList()) {
                candidates.add(new Candidate(s.getResponse().getPromptId(), s.getResponse().getSample(), s.getLogpPolicy(),
                        s.getLogpRef(), s.getResponse().getTokens(), true));
            }
            AlphaSearch.Result alpha = AlphaSearch.search(candidates, PairSelection.minValidFor(k));
            int pairs = PairSelection.select(candidates, alpha.alpha(), PairSelection.minValidFor(k)).size();
            long t3 = System.nanoTime();
            List<PreferencePair> data = new ArrayList<>();
            for (int i = 0; i < 2 * pairs; i++) {
                ScoredResponse c = scored.getResponses((2 * i) % scored.getResponsesCount());
                ScoredResponse r = scored.getResponses((2 * i + 1) % scored.getResponsesCount());
                data.add(PreferencePair.newBuilder().setPrompt("x").setChosen(c.getResponse().getText())
                        .setRejected(r.getResponse().getText()).setRefLogpChosen(c.getLogpPolicy())
                        .setRefLogpRejected(r.getLogpPolicy()).build());
            }
            int steps = Math.max(1, data.size() / 32);
            Training.dpo(policy, data, new Training.Settings(steps, 32, 1e-6, 1, 1.0, 0.1, 3), s -> {});
            long t4 = System.nanoTime();
            policy.close();
            reference.close();
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("prompts", prompts);
            row.put("k", k);
            row.put("responses", prompts * k);
            row.put("train_pairs", data.size());
            row.put("train_steps", steps);
            row.put("generate_s", seconds(t1 - t0));
            row.put("score_s", seconds(t2 - t1));
            row.put("shape_s", seconds(t3 - t2));
            row.put("train_s", seconds(t4 - t3));
            row.put("total_s", seconds(t4 - t0));
            return row;
        }
    }

    private static double seconds(long nanos) {
        return Math.round(nanos / 1e6) / 1000.0;
    }

    /**
     * Bytes as Latin-1 text, so that whatever an untrained model samples survives decode and encode at one token per
     * byte (UTF-8 would turn invalid bytes into three-byte replacement characters and overflow the context). For
     * sampling its end-of-sequence id is one no sample can produce, so every row decodes in full; training appends
     * the real one.
     */
    record Latin1(int eosId) implements dev.dice.gpu.Tokenizer {
        private static final ByteTokenizer BYTES = new ByteTokenizer();

        public int[] encode(String text) {
            byte[] b = text.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
            int[] ids = new int[b.length];
            for (int i = 0; i < b.length; i++) {
                ids[i] = b[i] & 0xff;
            }
            return ids;
        }

        public String decode(int[] ids) {
            StringBuilder text = new StringBuilder();
            for (int id : ids) {
                if (id < 256) {
                    text.append((char) id);
                }
            }
            return text.toString();
        }

        public int vocabSize() {
            return BYTES.vocabSize();
        }

        public int bosId() {
            return BYTES.bosId();
        }

        public int padId() {
            return BYTES.padId();
        }
    }
}
