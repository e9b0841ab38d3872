package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.work.Training;

/**
 * The points of a run that observers (metrics, progress) hear about. The coordinator calls these as the run
 * advances; they must be cheap and never throw.
 */
final class RunObserver {
    private RunObserver() {}

    static void stageStarted(String stage) {}

    static void stageFinished(StageResult result) {}

    static void trainingStep(String stage, Training.Step step) {}

    /** A shard job advanced: {@code done} of {@code total} shards, {@code responses} responses so far. */
    static void jobProgress(String job, int done, int total) {}

    static void roundShaped(String round, RewardShapingActor.Shaped shaped) {}

    static void replayStored(String round, int roundPairs, int totalPairs) {}
}
