package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.algo.Pair;
import dev.dice.algo.PairSelection;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredShard;
import dev.dice.report.RunReport;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The points of a run that observers (metrics, progress) hear about. The coordinator calls these as the run
 * advances; they must be cheap and never throw.
 *
 * <p>Everything here feeds {@link DiceMetrics} (one registry per JVM). The HTTP exporter starts on the first hook
 * when {@code -Ddice.metrics.port} (or {@link #runStarted}'s port) is above 0, bound to {@code -Ddice.metrics.host}
 * (default 127.0.0.1). {@link #runFinished} writes {@code metrics.prom} and {@code report.html} into the run directory.
 */
final class RunObserver {
    private static final Logger log = LoggerFactory.getLogger(RunObserver.class);

    /** Shards completed so far per running job name (jobProgress reports cumulative counts). */
    private static final Map<String, Integer> jobDone = new ConcurrentHashMap<>();
    /**
     * True once ShardJob reports shards one by one (shardDispatched/Generated/Scored). Until then, generated tokens,
     * prompts and scored sequences are derived from a round's candidates in {@link #roundShaped} (rounds only,
     * counted when the round's scoring is done rather than live).
     */
    private static volatile boolean liveShardHooks;
    private static volatile String currentStage;
    private static volatile boolean serverTried;

    private RunObserver() {}

    // ---- run lifecycle (hooks for DiceRun) --------------------------------------------------------------

    /**
     * A run starts: starts the metrics exporter when {@code metricsPort} > 0 (else falls back to
     * {@code -Ddice.metrics.port}).
     */
    static void runStarted(Path runDir, List<String> stages, int metricsPort) {
        guard("runStarted", () -> {
            startServer(metricsPort > 0 ? metricsPort : Integer.getInteger("dice.metrics.port", 0));
            log.info("run {}: metrics {}", runDir, DiceMetrics.get().serverPort() > 0
                    ? "on http://" + host() + ":" + DiceMetrics.get().serverPort() + "/metrics" : "not exported (no port)");
        });
    }

    /** The run finished (after summary.json is written): writes {@code metrics.prom} and {@code report.html}. */
    static void runFinished(Path runDir) {
        guard("metrics.prom", () -> DiceMetrics.get().writeTo(runDir.resolve("metrics.prom")));
        guard("report.html", () -> log.info("report: {}", RunReport.write(runDir)));
    }

    // ---- stages -------------------------------------------------------------------------------------------

    static void stageStarted(String stage) {
        guard("stageStarted", () -> {
            startServer(Integer.getInteger("dice.metrics.port", 0));
            DiceMetrics m = DiceMetrics.get();
            String previous = currentStage;
            if (previous != null) {
                m.stageActive.labelValues(previous).set(0);
            }
            currentStage = stage;
            jobDone.clear();
            m.stageActive.labelValues(stage).set(1);
            m.round.set(roundNumber(stage));
        });
    }

    static void stageFinished(StageResult result) {
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

    static void trainingStep(String stage, Training.Step step) {
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

    // ---- shard jobs ---------------------------------------------------------------------------------------

    /** A shard job advanced: {@code done} of {@code total} shards, {@code responses} responses so far. */
    static void jobProgress(String job, int done, int total) {
        guard("jobProgress", () -> {
            DiceMetrics m = DiceMetrics.get();
            String kind = Job.label(job);
            int before = jobDone.getOrDefault(job, 0);
            if (done < before) {
                before = 0; // a new job of the same name (another run in this JVM)
            }
            jobDone.put(job, done);
            if (done > before) {
                m.shardsCompleted.labelValues(kind).inc(done - before);
            }
            m.jobProgress.labelValues(kind).set(total == 0 ? 1.0 : (double) done / total);
        });
    }

    /** Hook for ShardJob.dispatch: a prompt shard was handed to a generator. */
    static void shardDispatched(String job, PromptShard shard) {
        guard("shardDispatched", () -> {
            liveShardHooks = true;
            DiceMetrics.get().promptsDispatched.labelValues(Job.label(job)).inc(shard.getPromptsCount());
        });
    }

    /** Hook for ShardJob.onGenerated: a generator returned a shard. */
    static void shardGenerated(String job, GeneratedShard shard) {
        guard("shardGenerated", () -> {
            liveShardHooks = true;
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

    /** Hook for ShardJob.onScored: a scorer returned a shard. */
    static void shardScored(String job, ScoredShard shard) {
        guard("shardScored", () -> {
            liveShardHooks = true;
            DiceMetrics.get().scoredSequences.labelValues(Job.label(job)).inc(shard.getResponsesCount());
        });
    }

    // ---- rounds -------------------------------------------------------------------------------------------

    static void roundShaped(String round, RewardShapingActor.Shaped shaped) {
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
            if (!liveShardHooks) {
                // Derived: the round's generation and scoring are over; count their work now.
                Set<String> prompts = new HashSet<>();
                long tokens = 0;
                for (Candidate c : candidates) {
                    prompts.add(c.promptId());
                    tokens += c.length();
                }
                m.promptsDispatched.labelValues("round").inc(prompts.size());
                m.promptsCompleted.labelValues("round").inc(prompts.size());
                m.generatedTokens.labelValues("round").inc(tokens);
                m.generatedResponses.labelValues("round").inc(candidates.size());
                m.scoredSequences.labelValues("round").inc(candidates.size());
            }
            m.promptsLost.labelValues("round").inc(0); // exposed at 0: the one-node runtime loses no shard
        });
    }

    static void replayStored(String round, int roundPairs, int totalPairs) {
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

    private static String host() {
        return System.getProperty("dice.metrics.host", "127.0.0.1");
    }

    private static void startServer(int port) {
        if (port <= 0 || serverTried) {
            return;
        }
        serverTried = true;
        try {
            int bound = DiceMetrics.get().startServer(host(), port);
            log.info("metrics: http://{}:{}/metrics", host(), bound);
        } catch (Exception e) {
            log.warn("metrics: cannot listen on {}:{}: {}", host(), port, e.toString());
        }
    }

    /** Observers must never break the run: failures are logged and dropped. */
    private static void guard(String what, Runnable action) {
        try {
            action.run();
        } catch (RuntimeException | LinkageError e) {
            log.warn("run observer ({}) failed: {}", what, e.toString());
        }
    }
}
