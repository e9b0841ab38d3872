package dev.dice.coordinator;

import dev.dice.ops.DiceMetrics;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredShard;

/** What a shard job counts as it goes, labelled by its kind ({@link Job#label}); never throws. */
final class JobMetrics {
    private JobMetrics() {}

    /** A job started again found {@code results} in the journal (persisted before a failover or restart). */
    static void recovered(String job, int results, org.slf4j.Logger log) {
        if (results > 0) {
            log.info("{}: {} results recovered from the journal", job, results);
            RunObserver.guard("recovered", () -> DiceMetrics.get().resultsRecovered.inc(results));
        }
    }

    /** A prompt shard was handed to the generators' queue. */
    static void shardDispatched(String job, PromptShard shard) {
        RunObserver.guard("shardDispatched", () ->
                DiceMetrics.get().promptsDispatched.labelValues(Job.label(job)).inc(shard.getPromptsCount()));
    }

    /** A generator's shard was stored. */
    static void shardGenerated(String job, GeneratedShard shard) {
        RunObserver.guard("shardGenerated", () -> {
            DiceMetrics m = DiceMetrics.get();
            String kind = Job.label(job);
            long tokens = 0;
            for (Response r : shard.getResponsesList()) {
                tokens += r.getTokens();
            }
            m.promptsCompleted.labelValues(kind).inc(shard.getPromptsCount());
            m.generatedTokens.labelValues(kind).inc(tokens);
            m.generatedResponses.labelValues(kind).inc(shard.getResponsesCount());
        });
    }

    /** A scorer's shard was stored. */
    static void shardScored(String job, ScoredShard shard) {
        RunObserver.guard("shardScored", () ->
                DiceMetrics.get().scoredSequences.labelValues(Job.label(job)).inc(shard.getResponsesCount()));
    }

    /** The job has {@code done} of {@code total} shards finished, {@code newly} of them since it last said. */
    static void progress(String job, int newly, int done, int total) {
        RunObserver.guard("jobProgress", () -> {
            DiceMetrics m = DiceMetrics.get();
            String kind = Job.label(job);
            if (newly > 0) {
                m.shardsCompleted.labelValues(kind).inc(newly);
            }
            m.jobProgress.labelValues(kind).set(total == 0 ? 1.0 : (double) done / total);
        });
    }
}
