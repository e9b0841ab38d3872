package dev.dice.coordinator;

import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.Sampling;
import dev.dice.task.OfflinePair;
import dev.dice.task.Prompt;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;

/**
 * A job's work cut into shards: prompts to sample ({@code dice.cluster.shard-size} prompts a shard), or given texts
 * to score (half a scoring batch of prompts a shard, their texts as samples 0, 1, ...).
 */
final class Shards {
    private final int shardSize;
    private final int batchRows;
    private final LongFunction<Path> modelDir;

    /** {@code modelDir}: the checkpoint of a policy version as the run stores it, named in each prompt shard. */
    Shards(RunConfig.Cluster cluster, LongFunction<Path> modelDir) {
        this.shardSize = cluster.shardSize();
        this.batchRows = cluster.batchRows();
        this.modelDir = modelDir;
    }

    /** {@code k} samples of each prompt with the policy of {@code version}, as {@code sampling} says and seeded by {@code seed}. */
    List<PromptShard> prompts(Job job, List<Prompt> prompts, int k, Sampling sampling, long seed, long version) {
        List<PromptShard> shards = new ArrayList<>();
        for (int from = 0; from < prompts.size(); from += shardSize) {
            PromptShard.Builder b = PromptShard.newBuilder().setJob(job.name()).setShard(shards.size())
                    .setPolicyVersion(version).setPolicyDir(modelDir.apply(version).toString())
                    .setSamplesPerPrompt(k).setSampling(sampling).setSeed(seed);
            for (Prompt p : prompts.subList(from, Math.min(prompts.size(), from + shardSize))) {
                b.addPrompts(dev.dice.proto.Prompt.newBuilder().setId(p.id()).setText(p.text()));
            }
            shards.add(b.build());
        }
        return shards;
    }

    /** Offline pairs' chosen (sample 0) and rejected (sample 1) texts, to be scored under the policy of {@code version}. */
    List<GeneratedShard> offline(Job job, List<OfflinePair> pairs, long version) {
        List<dev.dice.proto.Prompt> prompts = new ArrayList<>();
        List<List<String>> texts = new ArrayList<>();
        for (OfflinePair p : pairs) {
            prompts.add(dev.dice.proto.Prompt.newBuilder().setId(p.promptId()).setText(p.prompt()).build());
            texts.add(List.of(p.chosen(), p.rejected()));
        }
        return texts(job, prompts, texts, version);
    }

    /** Held-out candidates of task prompts as their samples 0, 1, ..., to be scored under the policy of {@code version}. */
    List<GeneratedShard> candidates(Job job, List<Prompt> prompts, List<List<String>> candidates, long version) {
        List<dev.dice.proto.Prompt> wire = new ArrayList<>();
        for (Prompt p : prompts) {
            wire.add(dev.dice.proto.Prompt.newBuilder().setId(p.id()).setText(p.text()).build());
        }
        return texts(job, wire, candidates, version);
    }

    private List<GeneratedShard> texts(Job job, List<dev.dice.proto.Prompt> prompts, List<List<String>> texts,
            long version) {
        List<GeneratedShard> shards = new ArrayList<>();
        int size = Math.max(1, batchRows / 2);
        for (int from = 0; from < prompts.size(); from += size) {
            GeneratedShard.Builder b = GeneratedShard.newBuilder().setJob(job.name()).setShard(shards.size())
                    .setPolicyVersion(version);
            for (int i = from; i < Math.min(prompts.size(), from + size); i++) {
                dev.dice.proto.Prompt p = prompts.get(i);
                b.addPrompts(p);
                for (int s = 0; s < texts.get(i).size(); s++) {
                    b.addResponses(Response.newBuilder().setPromptId(p.getId()).setSample(s).setText(texts.get(i).get(s))
                            .setEndedOnEos(true).setValid(true));
                }
            }
            shards.add(b.build());
        }
        return shards;
    }
}
