package dev.dice.coordinator;

import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** {@code summary.json} and its table: one row per stage. */
public final class Summary {
    private Summary() {}

    public static void write(Path runDir, RunConfig config, List<StageResult> stages) {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("seed", config.seed());
        summary.put("length_unit", "tokens");
        summary.put("judge", config.data().prompts().isEmpty() ? "builtin" : "none (bring-your-own prompts: lengths and"
                + " implicit-reward statistics only)");
        summary.put("stages", stages);
        Jsonl.writeJson(runDir.resolve("summary.json"), summary);
    }

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
