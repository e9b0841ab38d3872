package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.algo.Pair;
import dev.dice.algo.PairSelection;
import dev.dice.ops.DiceMetrics;
import dev.dice.report.RunReport;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a run's coordinator tells its observers as the run advances: the metrics of stages, training and rounds
 * ({@link DiceMetrics}, one registry per JVM); a shard job's own counts are {@link JobMetrics}'. One observer per
 * coordinator, called from its actor only; every hook is cheap and never throws. {@link #runFinished} writes
 * {@code metrics.prom} and {@code report.html} into the run directory.
 */
final class RunObserver {
    private static final Logger log = LoggerFactory.getLogger(RunObserver.class);

    /** The stage running, whose {@code stage_active} gauge the next stage clears. */
    private String currentStage;
    /** The JVM's CPU and wall time when the stage running started. */
    private CpuClock stageClock;

    // ---- run lifecycle ------------------------------------------------------------------------------------

    /** A run starts; the exporter, if any, was bound at start-up ({@code dice.metrics.port}, {@code host}). */
    static void runStarted(Path runDir, String host) {
        guard("runStarted", () -> log.info("run {}: metrics {}", runDir, DiceMetrics.get().serverPort() > 0
                ? "on http://" + host + ":" + DiceMetrics.get().serverPort() + "/metrics" : "not exported (no port)"));
    }

    /** The run finished (after summary.json is written): writes {@code metrics.prom} and {@code report.html}. */
    static void runFinished(Path runDir) {
        guard("metrics.prom", () -> DiceMetrics.get().writeTo(runDir.resolve("metrics.prom")));
        guard("report.html", () -> log.info("report: {}", RunReport.write(runDir)));
    }

    // ---- stages -------------------------------------------------------------------------------------------

    void stageStarted(String stage) {
        stageClock = CpuClock.start();
        guard("stageStarted", () -> {
            DiceMetrics m = DiceMetrics.get();
            String previous = currentStage;
            if (previous != null) {
                m.stageActive.labelValues(previous).set(0);
            }
            currentStage = stage;
            m.stageActive.labelValues(stage).set(1);
            m.round.set(roundNumber(stage));
        });
    }

    /** What the stage running used so far (null if no stage started). */
    StageResult.Cpu stageCpu() {
        return stageClock == null ? null : StageResult.Cpu.of(stageClock.since());
    }

    void stageFinished(StageResult result) {
        guard("stageFinished", () -> {
            DiceMetrics m = DiceMetrics.get();
            String stage = result.name();
            m.stageActive.labelValues(stage).set(0);
            m.stagesCompleted.inc();
            m.stageDuration.labelValues(stage).set(result.seconds());
            set(m.evalWinRate, stage, result.evaluation().winRate());
            set(m.evalLcWinRate, stage, result.evaluation().lcWinRate());
            set(m.evalQuality, stage, result.evaluation().quality());
            set(m.evalMeanLength, stage, result.evaluation().meanLength());
        });
    }

    void trainingStep(String stage, Training.Step step) {
        guard("trainingStep", () -> {
            DiceMetrics m = DiceMetrics.get();
            m.trainSteps.labelValues(stage).inc();
            m.trainStep.labelValues(stage).set(step.step());
            set(m.trainLoss, stage, step.loss());
            set(m.trainRewardAccuracy, stage, step.rewardAccuracy());
            set(m.trainRewardMargin, stage, step.margin());
            set(m.trainChosenReward, stage, step.chosenReward());
            set(m.trainRejectedReward, stage, step.rejectedReward());
            set(m.trainLearningRate, stage, step.learningRate());
        });
    }

    // ---- rounds -------------------------------------------------------------------------------------------

    void roundShaped(String round, RewardShapingActor.Shaped shaped) {
        guard("roundShaped", () -> {
            DiceMetrics m = DiceMetrics.get();
            List<Pair> pairs = shaped.pairs();
            List<Candidate> candidates = shaped.candidates();
            m.alpha.labelValues(round).set(shaped.alpha());
            m.pairs.labelValues(round).set(pairs.size());
            double chosen = 0;
            double rejected = 0;
            double margin = 0;
            for (Pair p : pairs) {
                chosen += p.chosen().length();
                rejected += p.rejected().length();
                margin += p.chosen().reward() - p.rejected().reward();
            }
            if (!pairs.isEmpty()) {
                m.chosenLength.labelValues(round).set(chosen / pairs.size());
                m.rejectedLength.labelValues(round).set(rejected / pairs.size());
                m.pairRewardMargin.labelValues(round).set(margin / pairs.size());
            }
            m.lengthGap.labelValues(round, "selected").set(PairSelection.meanLengthGap(pairs));
            double gapAtZero = shaped.search() != null ? shaped.search().meanGapAtZero()
                    : PairSelection.meanLengthGap(PairSelection.select(candidates, 0.0,
                            PairSelection.minValidFor(samplesPerPrompt(candidates))));
            m.lengthGap.labelValues(round, "zero").set(gapAtZero);
            long valid = candidates.stream().filter(Candidate::valid).count();
            m.validRatio.labelValues(round).set(candidates.isEmpty() ? 0 : (double) valid / candidates.size());
            m.promptsLost.labelValues("round").inc(0); // exposed at 0: the one-node runtime loses no shard
        });
    }

    void replayStored(String round, int roundPairs, int totalPairs) {
        guard("replayStored", () -> {
            DiceMetrics m = DiceMetrics.get();
            m.replayRoundPairs.labelValues(round).set(roundPairs);
            m.replayPairs.set(totalPairs);
        });
    }

    // ---- helpers ------------------------------------------------------------------------------------------

    static int roundNumber(String stage) {
        return stage.matches("round\\d+") ? Integer.parseInt(stage.substring(5)) : 0;
    }

    private static int samplesPerPrompt(List<Candidate> candidates) {
        Map<String, Integer> counts = new HashMap<>();
        int k = 1;
        for (Candidate c : candidates) {
            k = Math.max(k, counts.merge(c.promptId(), 1, Integer::sum));
        }
        return k;
    }

    private static void set(io.prometheus.metrics.core.metrics.Gauge gauge, String label, Double value) {
        if (value != null && Double.isFinite(value)) {
            gauge.labelValues(label).set(value);
        }
    }

    /** Observers must never break the run: failures are logged and dropped. */
    static void guard(String what, Runnable action) {
        try {
            action.run();
        } catch (RuntimeException | LinkageError e) {
            log.warn("run observer ({}) failed: {}", what, e.toString());
        }
    }
}
