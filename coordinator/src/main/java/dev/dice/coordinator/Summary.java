package dev.dice.coordinator;

import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code summary.json} and its table: one row per stage. */
public final class Summary {
    private Summary() {}

    public static void write(Path runDir, RunConfig config, List<StageResult> stages, Coordinator.Membership membership) {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("seed", config.seed());
        summary.put("length_unit", "tokens");
        summary.put("judge", config.data().prompts().isEmpty() ? "builtin" : "none (bring-your-own prompts: lengths and"
                + " implicit-reward statistics only)");
        // The cluster's work over the run's stages (each stage's share is in its row's "cluster").
        StageResult.ClusterFacts total = StageResult.ClusterFacts.NONE;
        for (StageResult s : stages) {
            total = s.cluster() == null ? total : total.add(s.cluster());
        }
        summary.put("prompts_dispatched", total.promptsDispatched());
        summary.put("prompts_completed", total.promptsCompleted());
        summary.put("prompts_lost", total.promptsDispatched() - total.promptsCompleted());
        summary.put("duplicate_results_dropped", total.duplicateResultsDropped());
        summary.put("stale_results_rejected", total.staleResultsRejected());
        summary.put("duplicates_in_pairs", total.duplicatesInPairs());
        summary.put("node_joins", membership.joins());
        summary.put("node_leaves", membership.leaves());
        summary.put("stages", stages);
        Jsonl.writeJson(runDir.resolve("summary.json"), summary);
    }

    /** The stage table and the cluster's counts of a run's summary.json. */
    public static String print(Path runDir) {
        com.fasterxml.jackson.databind.JsonNode summary = Jsonl.readJson(runDir.resolve("summary.json"),
                com.fasterxml.jackson.databind.JsonNode.class);
        StringBuilder b = new StringBuilder(table(List.of(Jsonl.JSON.convertValue(summary.get("stages"), StageResult[].class))));
        for (String field : CLUSTER_FIELDS) {
            b.append(String.format("%-26s %s%n", field, summary.get(field)));
        }
        return b.append("summary: ").append(runDir.resolve("summary.json")).append(System.lineSeparator()).toString();
    }

    /** The top-level counts summary.json holds about the cluster's work. */
    public static final List<String> CLUSTER_FIELDS = List.of("prompts_dispatched", "prompts_completed", "prompts_lost",
            "duplicate_results_dropped", "stale_results_rejected", "duplicates_in_pairs", "node_joins", "node_leaves");

    public static String table(List<StageResult> stages) {
        StringBuilder b = new StringBuilder();
        b.append(String.format("%-8s %7s %7s %7s %7s %8s %7s %7s %7s %7s %7s %7s %7s %7s%n", "stage", "win", "lc_win",
                "quality", "length", "alpha", "agree", "pairs+", "pairs-", "r~q", "r~ref", "kl_prev", "dlp_ch", "dlp_rej"));
        for (StageResult s : stages) {
            b.append(String.format("%-8s %7s %7s %7s %7s %8s %7s %7s %7s %7s %7s %7s %7s %7s%n", s.name(), f(s.winRate()),
                    f(s.lcWinRate()), f(s.quality()), f(s.meanLength()), f(s.alpha()), f(s.rewardAgreement()),
                    f(s.pairAccuracy()), f(s.pairWorse()), f(s.rewardCorrQuality()), f(s.rewardCorrRefLogp()),
                    f(s.klToPrevious()), f(s.dpoDeltaLogpChosen()), f(s.dpoDeltaLogpRejected())));
        }
        return b.toString();
    }

    static String line(StageResult s) {
        return String.format("win %s, lc_win %s, quality %s, length %s, alpha %s, agreement %s, pairs better/worse %s/%s",
                f(s.winRate()), f(s.lcWinRate()), f(s.quality()), f(s.meanLength()), f(s.alpha()), f(s.rewardAgreement()),
                f(s.pairAccuracy()), f(s.pairWorse()));
    }

    static String trainingLine(Training.Step step) {
        return Double.isNaN(step.rewardAccuracy()) ? String.format("loss %.4f", step.loss())
                : String.format("loss %.4f, reward acc %.2f, margin %.3f", step.loss(), step.rewardAccuracy(), step.margin());
    }

    private static String f(Double x) {
        return x == null || x.isNaN() ? "-" : String.format("%.3f", x);
    }
}
