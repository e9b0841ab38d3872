package dev.dice.coordinator;

import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.task.BuiltinTask;
import dev.dice.task.Judge;
import dev.dice.task.OfflinePair;
import dev.dice.task.OfflinePairs;
import dev.dice.task.Prompt;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.slf4j.LoggerFactory;

/**
 * D_off, the offline preference set: the user's ({@code dice.data.offline-pairs}), the one this run built earlier
 * ({@code dpo/offline.jsonl}), or built on the built-in task — at start-up from the synthetic candidates alone, or by
 * the DPO stage once π0's samples of the offline prompts stand beside them.
 */
final class OfflineData {
    private final RunConfig config;
    private final Path file;
    private final BuiltinTask task;
    private final Judge judge;
    private final RunPrompts prompts;
    /** Null until built from π0's samples. */
    private List<OfflinePair> pairs;

    /** {@code judge} picks chosen and rejected among the candidates of the built-in task's offline prompts. */
    OfflineData(RunConfig config, RunDirectory dir, BuiltinTask task, Judge judge, RunPrompts prompts,
            Optional<ChatFormat> chat) {
        this.config = config;
        this.file = dir.stage("dpo").resolve("offline.jsonl");
        this.task = task;
        this.judge = judge;
        this.prompts = prompts;
        if (!config.data().offlinePairs().isEmpty()) {
            this.pairs = Datasets.readOfflinePairs(Path.of(config.data().offlinePairs()), chat);
        } else if (Files.exists(file)) {
            this.pairs = Datasets.readOfflinePairs(file, Optional.empty());
        } else if (config.data().offlinePolicySamples() == 0) {
            build(List.of());
        }
    }

    List<OfflinePair> pairs() {
        if (pairs == null) {
            throw new IllegalStateException("D_off is built by the DPO stage from π0's samples; it has not run");
        }
        return pairs;
    }

    /** Whether D_off still needs π0's samples of the offline prompts (built-in task, not yet built). */
    boolean needsSamples() {
        return pairs == null;
    }

    /** The offline prompts π0 samples for D_off. */
    List<Prompt> prompts() {
        return prompts.offline();
    }

    /**
     * Builds D_off like UltraFeedback: per prompt the synthetic generators' responses plus π0's complete samples,
     * the judge's tournament winner as chosen, a random other as rejected; saved as {@code dpo/offline.jsonl}.
     */
    void build(List<GeneratedShard> policySamples) {
        Map<String, List<String>> extra = new HashMap<>();
        for (GeneratedShard shard : policySamples) {
            for (Response r : shard.getResponsesList()) {
                if (r.getValid()) {
                    extra.computeIfAbsent(r.getPromptId(), k -> new ArrayList<>()).add(r.getText());
                }
            }
        }
        OfflinePairs built = OfflinePairs.build(task, judge, prompts(), p -> extra.getOrDefault(p.id(), List.of()),
                new SplittableRandom(config.seed() ^ 0x0FFL));
        LoggerFactory.getLogger(OfflineData.class).info("{}", built.stats());
        pairs = built.pairs();
        Jsonl.write(file, pairs); // records write as prompt_id, prompt, chosen, rejected
    }

    /** Offline pairs with their reference log-probs: the policy-side score of their shards (π_t is the reference). */
    static List<PreferencePair> withReferences(List<OfflinePair> pairs, List<ScoredShard> scored) {
        Map<String, Double> logp = new HashMap<>();
        for (ScoredShard shard : scored) {
            for (ScoredResponse r : shard.getResponsesList()) {
                logp.put(Evaluation.key(r.getResponse().getPromptId(), r.getResponse().getSample()), r.getLogpPolicy());
            }
        }
        List<PreferencePair> out = new ArrayList<>();
        for (OfflinePair p : pairs) {
            out.add(PreferencePair.newBuilder().setPromptId(p.promptId()).setPrompt(p.prompt()).setChosen(p.chosen())
                    .setRejected(p.rejected()).setRefLogpChosen(logp.get(Evaluation.key(p.promptId(), 0)))
                    .setRefLogpRejected(logp.get(Evaluation.key(p.promptId(), 1))).setSource("offline").build());
        }
        return out;
    }
}
