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
        summary.put("trainer_nodes", total.trainerNodes().size());
        summary.put("ring_reforms", total.ringReforms());
        summary.put("train_steps_replayed", total.trainStepsReplayed());
        summary.put("stages", withEarlierRows(runDir.resolve("summary.json"), stages));
        Jsonl.writeJson(runDir.resolve("summary.json"), summary);
    }

    /**
     * {@code stages}, then the rows an earlier summary holds of stages this command did not run (a re-run with fewer
     * rounds): a finished stage's row is never lost.
     */
    static List<StageResult> withEarlierRows(Path file, List<StageResult> stages) {
        if (!java.nio.file.Files.exists(file)) {
            return stages;
        }
        List<StageResult> rows = new java.util.ArrayList<>(stages);
        java.util.Set<String> names = new java.util.HashSet<>();
        stages.forEach(s -> names.add(s.name()));
        com.fasterxml.jackson.databind.JsonNode earlier = Jsonl.readJson(file,
                com.fasterxml.jackson.databind.JsonNode.class).get("stages");
        for (StageResult s : Jsonl.JSON.convertValue(earlier, StageResult[].class)) {
            if (names.add(s.name())) {
                rows.add(s);
            }
        }
        return rows;
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
            "duplicate_results_dropped", "stale_results_rejected", "duplicates_in_pairs", "node_joins", "node_leaves",
            "trainer_nodes", "ring_reforms", "train_steps_replayed");

    /** The table's columns: heading and the summary field shown. */
    private static final List<List<String>> COLUMNS = List.of(List.of("win", "win_rate"), List.of("lc_win", "lc_win_rate"),
            List.of("quality", "quality"), List.of("length", "mean_length"), List.of("alpha", "alpha"),
            List.of("agree", "reward_agreement"), List.of("pairs+", "pair_accuracy"), List.of("pairs-", "pair_worse"),
            List.of("r~q", "reward_corr_quality"), List.of("r~ref", "reward_corr_ref_logp"),
            List.of("kl_prev", "kl_to_previous"), List.of("dlp_ch", "dpo_delta_logp_chosen"),
            List.of("dlp_rej", "dpo_delta_logp_rejected"), List.of("cpu", "cpu_utilization"));

    public static String table(List<StageResult> stages) {
        StringBuilder b = new StringBuilder(String.format("%-8s", "stage"));
        COLUMNS.forEach(c -> b.append(String.format(width(c), c.get(0))));
        b.append(System.lineSeparator());
        for (StageResult s : stages) {
            b.append(String.format("%-8s", s.name()));
            COLUMNS.forEach(c -> b.append(String.format(width(c), f(s.number(c.get(1))))));
            b.append(System.lineSeparator());
        }
        return b.toString();
    }

    /** Seven characters a column and a space before it; α gets eight. */
    private static String width(List<String> column) {
        return column.get(1).equals("alpha") ? " %8s" : " %7s";
    }

    static String line(StageResult s) {
        return String.format("win %s, lc_win %s, quality %s, length %s, alpha %s, agreement %s, pairs better/worse %s/%s",
                f(s.number("win_rate")), f(s.number("lc_win_rate")), f(s.number("quality")), f(s.number("mean_length")),
                f(s.number("alpha")), f(s.number("reward_agreement")), f(s.number("pair_accuracy")),
                f(s.number("pair_worse")));
    }

    static String trainingLine(Training.Step step) {
        return Double.isNaN(step.rewardAccuracy()) ? String.format("loss %.4f", step.loss())
                : String.format("loss %.4f, reward acc %.2f, margin %.3f", step.loss(), step.rewardAccuracy(), step.margin());
    }

    private static String f(Double x) {
        return x == null || x.isNaN() ? "-" : String.format("%.3f", x);
    }
}
