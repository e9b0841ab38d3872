package dev.dice.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import dev.dice.algo.PairSelection;
import dev.dice.files.RoundFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;

/**
 * {@code report.html}: a self-contained page (charts are PNGs embedded as base64) describing a finished run
 * directory — or an experiment directory ({@code experiment.json} plus {@code seedS/<variant>/} runs).
 *
 * <p>Everything is recomputed from the files the run wrote: evaluation rows ({@code summary.json}, else each
 * {@code <stage>/stage.json}), training logs ({@code <stage>/model/train_log.json}) and each round's scored responses
 * ({@code roundN/scored.jsonl}), from which the α = 0 and α* selections are redone with {@link PairSelection} and
 * {@link AlphaSearch}, exactly as the reward-shaping actor did.
 *
 * <p>Every chart is an {@code <img>} with {@code data-chart="<id>"}; ids: {@code win-rates}, {@code lengths},
 * {@code hist-<round>-alpha0}, {@code hist-<round>-alphastar}, {@code alpha-curve-<round>}, {@code dpo-loss},
 * {@code reward-accuracy}; for an experiment also {@code experiment-win-rates} and {@code experiment-lengths}.
 */
public final class RunReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One embedded chart. */
    public record Figure(String id, String title, String caption, String png) {}

    /** One round's scored responses reduced to what the selection needs. */
    record Round(String name, List<Candidate> candidates, int minValid, Double alphaUsed) {}

    private RunReport() {}

    /** Writes {@code dir/report.html} for a run or experiment directory; returns its path. */
    public static Path write(Path dir) {
        String html = html(dir);
        Path out = dir.resolve("report.html");
        try {
            Path tmp = dir.resolve("report.html.tmp");
            Files.writeString(tmp, html, StandardCharsets.UTF_8);
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out, e);
        }
        return out;
    }

    /** The report of {@code dir} as HTML. */
    public static String html(Path dir) {
        System.setProperty("java.awt.headless", "true");
        if (Files.isRegularFile(dir.resolve("experiment.json"))) {
            return experimentHtml(dir);
        }
        if (!isRun(dir)) {
            throw new IllegalArgumentException(dir + ": not a run directory (no summary.json or sft/stage.json)"
                    + " nor an experiment directory (no experiment.json)");
        }
        StringBuilder body = new StringBuilder();
        body.append("<h1>DICE run report</h1>\n").append(meta(dir));
        runSections(dir, body, "");
        return page("DICE run " + dir.getFileName(), body.toString());
    }

    static boolean isRun(Path dir) {
        return Files.isRegularFile(dir.resolve("summary.json")) || Files.isRegularFile(dir.resolve("sft/stage.json"));
    }

    // ---- a run ------------------------------------------------------------------------------------------

    private static void runSections(Path dir, StringBuilder body, String idPrefix) {
        List<JsonNode> stages = stages(dir);
        body.append(stageTable(stages));
        List<Figure> figures = new ArrayList<>();
        figures.add(winRates(idPrefix, stages));
        List<Round> rounds = rounds(dir, stages);
        figures.add(lengths(idPrefix, stages, rounds));
        for (Round r : rounds) {
            figures.addAll(RoundFigures.of(idPrefix, r));
        }
        figures.addAll(training(idPrefix, dir, stages));
        for (Figure f : figures) {
            body.append(Charts.figure(f));
        }
    }

    static List<JsonNode> stages(Path dir) {
        List<JsonNode> out = new ArrayList<>();
        Path summary = dir.resolve("summary.json");
        if (Files.isRegularFile(summary)) {
            readJson(summary).path("stages").forEach(out::add);
            return out;
        }
        // An unfinished run: whatever stages have finished, in stage order.
        for (String name : stageOrder(dir)) {
            Path row = dir.resolve(name).resolve("stage.json");
            if (Files.isRegularFile(row)) {
                out.add(readJson(row));
            }
        }
        return out;
    }

    private static List<String> stageOrder(Path dir) {
        List<String> names = new ArrayList<>(List.of("sft", "dpo"));
        for (int t = 1; Files.isDirectory(dir.resolve("round" + t)); t++) {
            names.add("round" + t);
        }
        return names;
    }

    private static List<Round> rounds(Path dir, List<JsonNode> stages) {
        int k = readJsonIfExists(dir.resolve("run-config.json")).path("rounds").path("k").asInt(0);
        List<Round> rounds = new ArrayList<>();
        for (JsonNode s : stages) {
            String name = s.path("name").asText();
            Path scored = dir.resolve(name).resolve(RoundFiles.SCORED);
            if (!name.startsWith("round") || !Files.isRegularFile(scored)) {
                continue;
            }
            List<Candidate> candidates = candidates(scored);
            int samples = k > 0 ? k : maxSamplesPerPrompt(candidates);
            Double alpha = s.hasNonNull("alpha") ? s.get("alpha").asDouble() : null;
            rounds.add(new Round(name, candidates, PairSelection.minValidFor(samples), alpha));
        }
        return rounds;
    }

    /** The candidates of {@code roundN/scored.jsonl}; lengths in tokens, as the shaping actor uses. */
    static List<Candidate> candidates(Path scored) {
        return RoundFiles.readScored(scored).stream().map(RoundFiles.ScoredRow::candidate).toList();
    }

    private static Figure winRates(String prefix, List<JsonNode> stages) {
        List<String> names = new ArrayList<>();
        List<Double> win = new ArrayList<>();
        List<Double> lc = new ArrayList<>();
        for (JsonNode s : stages) {
            names.add(s.path("name").asText());
            win.add(num(s, "win_rate"));
            lc.add(num(s, "lc_win_rate"));
        }
        CategoryChart chart = Charts.categoryChart("Win rate and LC win rate per stage", "stage", "rate against π0's responses");
        boolean judged = win.stream().anyMatch(v -> !v.isNaN());
        if (judged) {
            chart.addSeries("win rate", names, zeroNaN(win));
            chart.addSeries("LC win rate", names, zeroNaN(lc));
            chart.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        } else {
            chart.addSeries("no judge", names, names.stream().map(n -> 0.0).toList());
        }
        return Charts.figure(prefix + "win-rates", chart, judged
                ? "Judge preference against the fixed baseline (π0's eval responses); LC = length-controlled (σ(θ) of the GLM)."
                : "This run had no judge (own prompts/pairs): win rates are not available.");
    }

    private static Figure lengths(String prefix, List<JsonNode> stages, List<Round> rounds) {
        List<String> names = stages.stream().map(s -> s.path("name").asText()).toList();
        CategoryChart chart = Charts.stageChart("Mean response length per round", "mean length (tokens)");
        List<Double> eval = new ArrayList<>();
        for (JsonNode s : stages) {
            eval.add(nullNaN(num(s, "mean_length")));
        }
        chart.addSeries("eval responses", names, eval);
        if (!rounds.isEmpty()) {
            List<Double> sampled = new ArrayList<>();
            for (String name : names) {
                sampled.add(rounds.stream().filter(r -> r.name().equals(name)).findFirst()
                        .map(r -> nullNaN(r.candidates().stream().filter(Candidate::valid).mapToInt(Candidate::length)
                                .average().orElse(Double.NaN)))
                        .orElse(null));
            }
            chart.addSeries("round samples (valid)", names, sampled);
        }
        return Charts.figure(prefix + "lengths", chart, "Eval responses of every stage's model, and the valid responses each"
                + " round sampled from its policy π_t.");
    }

    private static List<Figure> training(String prefix, Path dir, List<JsonNode> stages) {
        XYChart loss = new XYChartBuilder().width(Charts.WIDTH).height(Charts.HEIGHT).title("DPO loss over steps")
                .xAxisTitle("step").yAxisTitle("sigmoid DPO loss").build();
        XYChart accuracy = new XYChartBuilder().width(Charts.WIDTH).height(Charts.HEIGHT).title("Reward accuracy over steps")
                .xAxisTitle("step").yAxisTitle("share of pairs with r(chosen) > r(rejected)").build();
        Charts.style(loss.getStyler());
        Charts.style(accuracy.getStyler());
        int series = 0;
        for (JsonNode s : stages) {
            String name = s.path("name").asText();
            Path file = dir.resolve(name).resolve("model").resolve("train_log.json");
            if (name.equals("sft") || !Files.isRegularFile(file)) {
                continue;
            }
            JsonNode log = readJson(file);
            List<Double> step = new ArrayList<>();
            List<Double> l = new ArrayList<>();
            List<Double> a = new ArrayList<>();
            for (JsonNode row : log) {
                step.add(row.path("step").asDouble());
                l.add(row.path("loss").asDouble(Double.NaN));
                a.add(row.path("rewardAccuracy").asDouble(Double.NaN));
            }
            if (step.isEmpty()) {
                continue;
            }
            Charts.line(loss.addSeries(name, step, l));
            Charts.line(accuracy.addSeries(name, step, a));
            series++;
        }
        if (series == 0) {
            loss.addSeries("no DPO stage yet", new double[] {0}, new double[] {0});
            accuracy.addSeries("no DPO stage yet", new double[] {0}, new double[] {0});
        }
        accuracy.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        return List.of(
                Charts.figure(prefix + "dpo-loss", loss, "Per-step loss of each DPO stage (D_off, then every round), from"
                        + " <stage>/model/train_log.json; ln 2 ≈ 0.693 at the start."),
                Charts.figure(prefix + "reward-accuracy", accuracy, "Per-step share of the batch's pairs whose implicit"
                        + " reward β·log(π/π_ref) ranks the chosen response first."));
    }

    // ---- an experiment ----------------------------------------------------------------------------------

    private static String experimentHtml(Path dir) {
        JsonNode exp = readJson(dir.resolve("experiment.json"));
        JsonNode table = exp.path("table");
        List<String> variants = new ArrayList<>();
        Map<String, String> describe = new LinkedHashMap<>();
        exp.path("variants").forEach(v -> {
            variants.add(v.path("name").asText());
            describe.put(v.path("name").asText(), String.format(Locale.ROOT, "%s (α %s, γ %s)", v.path("name").asText(),
                    v.path("alpha").asText(), v.path("gamma").asText()));
        });
        List<String> seeds = new ArrayList<>();
        exp.path("seeds").forEach(s -> seeds.add(s.asText()));
        StringBuilder body = new StringBuilder("<h1>DICE experiment report</h1>\n").append(meta(dir));
        body.append("<p>Seeds ").append(esc(String.join(", ", seeds))).append("; variants ")
                .append(esc(String.join("; ", describe.values()))).append(". Means over seeds.</p>\n");

        List<String> stageNames = new ArrayList<>();
        table.path(variants.isEmpty() ? "" : variants.get(0)).fieldNames().forEachRemaining(stageNames::add);

        CategoryChart win = Charts.categoryChart("LC win rate per stage, by variant", "stage", "length-controlled win rate");
        CategoryChart length = Charts.stageChart("Mean response length per round: α* against α = 0", "mean eval length (tokens)");
        for (String v : variants) {
            List<Double> lc = new ArrayList<>();
            List<Double> y = new ArrayList<>();
            for (String stage : stageNames) {
                JsonNode m = table.path(v).path(stage);
                lc.add(m.path("lc_win_rate").path("mean").asDouble(0.0));
                y.add(nullNaN(m.path("mean_length").path("mean").asDouble(Double.NaN)));
            }
            win.addSeries(describe.get(v), stageNames, lc);
            length.addSeries(describe.get(v), stageNames, y);
        }
        win.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        body.append(Charts.figure(Charts.figure("experiment-win-rates", win,
                "Length-controlled win rate against each seed's π0 baseline, mean over seeds.")));
        body.append(Charts.figure(Charts.figure("experiment-lengths", length,
                "Mean eval response length per stage; the rounds differ only in their α (and γ) setting.")));

        // The per-run charts of every variant of the first seed (SFT and DPO are shared by the variants).
        for (String seed : seeds) {
            for (String v : variants) {
                Path run = dir.resolve("seed" + seed).resolve(v);
                if (isRun(run)) {
                    body.append("<h2 class=\"run\">Run seed").append(esc(seed)).append(" / ").append(esc(v))
                            .append("</h2>\n");
                    runSections(run, body, "seed" + seed + "-" + v.replaceAll("[^A-Za-z0-9_-]", "_") + "-");
                }
            }
            break;
        }
        return page("DICE experiment " + dir.getFileName(), body.toString());
    }

    // ---- HTML -------------------------------------------------------------------------------------------

    private static String stageTable(List<JsonNode> stages) {
        StringBuilder b = new StringBuilder("<table>\n<tr><th>stage</th><th>win</th><th>LC win</th><th>quality</th>"
                + "<th>length</th><th>α</th><th>reward agreement</th><th>pairs better</th><th>pairs worse</th>"
                + "<th>final loss</th><th>final reward acc.</th><th>seconds</th><th>CPU (share of cores)</th></tr>\n");
        for (JsonNode s : stages) {
            b.append("<tr><td>").append(esc(s.path("name").asText())).append("</td>");
            for (String f : List.of("win_rate", "lc_win_rate", "quality", "mean_length", "alpha", "reward_agreement",
                    "pair_accuracy", "pair_worse", "final_loss", "final_reward_accuracy", "seconds", "cpu_utilization")) {
                double v = num(s, f);
                b.append("<td>").append(Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.4g", v)).append("</td>");
            }
            b.append("</tr>\n");
        }
        return b.append("</table>\n").toString();
    }

    private static String meta(Path dir) {
        return "<p class=\"meta\">" + esc(dir.toAbsolutePath().normalize().toString()) + " — generated "
                + esc(ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME)) + "</p>\n";
    }

    private static String page(String title, String body) {
        return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + esc(title) + "</title>\n"
                + "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto;color:#222}"
                + "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
                + "td:first-child{text-align:left}figure{margin:2em 0}img{max-width:100%}"
                + "figcaption{color:#555;font-size:90%}.meta{color:#777}</style>\n</head><body>\n" + body
                + "</body></html>\n";
    }

    // ---- small helpers ----------------------------------------------------------------------------------

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }

    private static double num(JsonNode row, String field) {
        JsonNode v = row.get(field);
        return v == null || v.isNull() || !v.isNumber() ? Double.NaN : v.asDouble();
    }

    private static Double nullNaN(double v) {
        return Double.isFinite(v) ? v : null;
    }

    private static List<Double> zeroNaN(List<Double> values) {
        return values.stream().map(v -> v.isNaN() ? 0.0 : v).toList();
    }

    private static int maxSamplesPerPrompt(List<Candidate> candidates) {
        Map<String, Integer> counts = new TreeMap<>();
        candidates.forEach(c -> counts.merge(c.promptId(), 1, Integer::sum));
        return counts.values().stream().mapToInt(Integer::intValue).max().orElse(2);
    }

    private static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode readJsonIfExists(Path file) {
        return Files.isRegularFile(file) ? readJson(file) : JSON.createObjectNode();
    }
}
