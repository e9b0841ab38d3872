package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import dev.dice.actors.ModelSource;
import dev.dice.actors.PublishedWeights;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import java.nio.file.Path;
import java.util.List;

/**
 * What a {@link ShardJob} does: generate {@code prompts} with the policy of {@code version} (their checkpoint named in
 * each shard) and/or score — the generated shards, or {@code toScore} — under {@code scoring} (null: no scoring); the
 * weights the trainer published of that version ({@code weights}, null: none), a stamp of its models' checkpoints
 * ({@code models}) and the copies the coordinator's node serves of them ({@code copies}).
 */
public record JobSpec(String name, long version, List<PromptShard> prompts, List<GeneratedShard> toScore,
        ScoringModels scoring, PublishedWeights weights, String models, Copies copies) {

    /** The models a scoring job scores under: the policy (the job's version) and the reference. */
    public record ScoringModels(Path policyDir, long referenceVersion, Path referenceDir) {}

    /** Where the coordinator's node serves the job's policy and reference checkpoints (null: not served). */
    public record Copies(PublishedWeights policy, PublishedWeights reference) {
        static final Copies NONE = new Copies(null, null);
    }

    public static JobSpec generate(String name, long version, List<PromptShard> prompts) {
        return new JobSpec(name, version, prompts, List.of(), null, null, "", Copies.NONE);
    }

    public static JobSpec generateAndScore(String name, long version, List<PromptShard> prompts, ScoringModels scoring) {
        return new JobSpec(name, version, prompts, List.of(), scoring, null, "", Copies.NONE);
    }

    public static JobSpec scoreOnly(String name, long version, List<GeneratedShard> shards, ScoringModels scoring) {
        return new JobSpec(name, version, List.of(), shards, scoring, null, "", Copies.NONE);
    }

    /**
     * The same job with the policy's published weights (null: none; workers fetch them, and a result of that version
     * computed with other weights fails the job) and a stamp of its models' checkpoints: a model trained again makes a
     * new job, not one that recovers the old model's results.
     */
    public JobSpec withModels(PublishedWeights weights, String models) {
        return new JobSpec(name, version, prompts, toScore, scoring, weights, models, copies);
    }

    /** The same job with the copies the coordinator's node serves of its policy and reference (null: none). */
    public JobSpec withCopies(PublishedWeights policy, PublishedWeights reference) {
        return new JobSpec(name, version, prompts, toScore, scoring, weights, models, new Copies(policy, reference));
    }

    /** The models a worker that joins must hold once this job starts; what the job does not use stays. */
    Coordination.CurrentModels currentAfter(Coordination.CurrentModels before) {
        ModelSource generating = prompts.isEmpty() ? before.generation()
                : new ModelSource(version, Path.of(prompts.get(0).getPolicyDir()), weights, copies.policy());
        if (scoring == null) {
            return new Coordination.CurrentModels(generating, before.scoringPolicy(), before.scoringReference());
        }
        return new Coordination.CurrentModels(generating,
                new ModelSource(version, scoring.policyDir(), weights, copies.policy()),
                new ModelSource(scoring.referenceVersion(), scoring.referenceDir(), null, copies.reference()));
    }
}
