package dev.dice.coordinator;

/**
 * One row of {@code summary.json}: how a stage's model does on the held-out prompts, and for DICE rounds
 * what the round's selection did. Null where a field does not apply (no judge, no implicit reward, no
 * round). Lengths are in tokens (bytes for the built-in model); the judge sees characters.
 */
public record StageResult(
        String name,
        Double winRate,
        Double lcWinRate,
        Double quality,
        Double meanLength,
        Double alpha,
        Double rewardAgreement,
        Double pairAccuracy,
        Double pairWorse,
        Double pairTied,
        Double meanLengthGapAtAlpha,
        Double meanLengthGapAtZero,
        Double rewardCorrQuality,
        Double rewardCorrRefLogp,
        Double validFraction,
        Integer generatedPairs,
        Integer offlinePairs,
        Double finalLoss,
        Double finalRewardAccuracy,
        Double dpoDeltaLogpChosen,
        Double dpoDeltaLogpRejected,
        Double klToPrevious,
        Double sampleQuality,
        Double chosenQuality,
        Double rejectedQuality,
        double seconds,
        ClusterFacts cluster) {

    /** An evaluation-only row, before round fields are known. */
    static StageResult evaluated(String name, Evaluation.Scores s, Double rewardAgreement, double seconds) {
        return new StageResult(name, s.winRate(), s.lcWinRate(), s.quality(), s.meanLength(), null, rewardAgreement,
                null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
                seconds, null);
    }

    StageResult withTraining(Double finalLoss, Double finalRewardAccuracy) {
        return withTraining(finalLoss, finalRewardAccuracy, null, null);
    }

    /**
     * @param deltaChosen   mean change of the chosen responses' log-prob under the trained policy against its frozen
     *                      reference over the last tenth of the DPO steps (chosen reward / β, nats): negative =
     *                      likelihood displacement
     * @param deltaRejected the same for the rejected responses
     */
    StageResult withTraining(Double finalLoss, Double finalRewardAccuracy, Double deltaChosen, Double deltaRejected) {
        return new StageResult(name, winRate, lcWinRate, quality, meanLength, alpha, rewardAgreement, pairAccuracy,
                pairWorse, pairTied, meanLengthGapAtAlpha, meanLengthGapAtZero, rewardCorrQuality, rewardCorrRefLogp,
                validFraction, generatedPairs, offlinePairs, finalLoss, finalRewardAccuracy, deltaChosen, deltaRejected,
                klToPrevious, sampleQuality, chosenQuality, rejectedQuality, seconds, cluster);
    }

    StageResult withRound(RoundFacts r) {
        return new StageResult(name, winRate, lcWinRate, quality, meanLength, r.alpha(), rewardAgreement,
                r.pairAccuracy(), r.pairWorse(), r.pairTied(), r.gapAtAlpha(), r.gapAtZero(), r.rewardCorrQuality(),
                r.rewardCorrRefLogp(), r.validFraction(), r.generatedPairs(), r.offlinePairs(), finalLoss,
                finalRewardAccuracy, dpoDeltaLogpChosen, dpoDeltaLogpRejected, r.klToPrevious(), r.sampleQuality(),
                r.chosenQuality(), r.rejectedQuality(), seconds, cluster);
    }

    StageResult withCluster(ClusterFacts facts) {
        return new StageResult(name, winRate, lcWinRate, quality, meanLength, alpha, rewardAgreement, pairAccuracy,
                pairWorse, pairTied, meanLengthGapAtAlpha, meanLengthGapAtZero, rewardCorrQuality, rewardCorrRefLogp,
                validFraction, generatedPairs, offlinePairs, finalLoss, finalRewardAccuracy, dpoDeltaLogpChosen,
                dpoDeltaLogpRejected, klToPrevious, sampleQuality, chosenQuality, rejectedQuality, seconds, facts);
    }

    /**
     * What the stage's shard jobs did across the cluster: prompts handed to generators and those whose every sample
     * came back (each counted once, however often its shard was sent), result copies dropped as duplicates (a shard
     * re-sent after a worker or the coordinator died), results rejected as stale (another policy version, or a job
     * that was over), and pairs of a round that share a prompt with an earlier pair of the round (0 when no result
     * was counted twice).
     */
    public record ClusterFacts(int promptsDispatched, int promptsCompleted, int duplicateResultsDropped,
            int staleResultsRejected, int duplicatesInPairs) {
        static final ClusterFacts NONE = new ClusterFacts(0, 0, 0, 0, 0);

        ClusterFacts plus(ShardJob.Facts job) {
            return add(new ClusterFacts(job.promptsDispatched(), job.promptsCompleted(), job.duplicatesDropped(),
                    job.staleRejected(), 0));
        }

        ClusterFacts add(ClusterFacts o) {
            return new ClusterFacts(promptsDispatched + o.promptsDispatched, promptsCompleted + o.promptsCompleted,
                    duplicateResultsDropped + o.duplicateResultsDropped, staleResultsRejected + o.staleResultsRejected,
                    duplicatesInPairs + o.duplicatesInPairs);
        }

        ClusterFacts plusStale(int stale) {
            return add(new ClusterFacts(0, 0, 0, stale, 0));
        }

        ClusterFacts plusDuplicatesInPairs(int duplicates) {
            return add(new ClusterFacts(0, 0, 0, 0, duplicates));
        }
    }

    /**
     * What a DICE round's selection did, measured before its DPO update. {@code klToPrevious}: mean of
     * log π_t(y) − log π_{t−1}(y) over π_t's own valid samples, a Monte-Carlo estimate of KL(π_t ‖ π_{t−1}) per
     * response (nats) — how far the round's generator has moved from its predecessor. {@code sampleQuality},
     * {@code chosenQuality}, {@code rejectedQuality}: mean true quality of all valid samples, the chosen and the
     * rejected responses (null without a judge).
     */
    record RoundFacts(double alpha, Double pairAccuracy, Double pairWorse, Double pairTied, double gapAtAlpha,
            double gapAtZero, Double rewardCorrQuality, double rewardCorrRefLogp, double validFraction,
            int generatedPairs, int offlinePairs, Double klToPrevious, Double sampleQuality, Double chosenQuality,
            Double rejectedQuality) {
        RoundFacts withCounts(int generated, int offline) {
            return new RoundFacts(alpha, pairAccuracy, pairWorse, pairTied, gapAtAlpha, gapAtZero, rewardCorrQuality,
                    rewardCorrRefLogp, validFraction, generated, offline, klToPrevious, sampleQuality, chosenQuality,
                    rejectedQuality);
        }
    }
}
