package dev.dice.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.algo.Stats;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The paper's claims in miniature: seeds × variants (α, γ). Per seed, the first variant runs every stage;
 * the others reuse its SFT and DPO stages (copied, so each run directory stays self-contained) and differ
 * only in their rounds. Writes experiment.json and experiment.md with mean and spread per stage.
 */
public final class Experiment {
    private static final Logger log = LoggerFactory.getLogger(Experiment.class);

    /** One arm of the experiment: a name and the round settings it changes. */
    public record Variant(String name, String alpha, double gamma) {}

    /** Mean, sample standard deviation and the per-seed values of one metric. */
    public record Spread(double mean, double std, List<Double> values) {}

    private Experiment() {}

    public static Map<String, Map<String, Map<String, Spread>>> run(Config base, Path out, List<Long> seeds,
            List<Variant> variants) {
        Map<String, List<List<StageResult>>> byVariant = new LinkedHashMap<>();
        for (long seed : seeds) {
            Path first = null;
            for (Variant v : variants) {
                Path dir = out.resolve("seed" + seed).resolve(v.name());
                if (first != null) {
                    copyStage(first, dir, "sft");
                    copyStage(first, dir, "dpo");
                }
                log.info("experiment: seed {}, variant {}", seed, v.name());
                Config config = ConfigFactory.parseMap(Map.of("dice.seed", seed, "dice.out", dir.toString(),
                        "dice.rounds.alpha", v.alpha(), "dice.rounds.gamma", v.gamma())).withFallback(base);
                byVariant.computeIfAbsent(v.name(), k -> new ArrayList<>()).add(DiceRun.run(config));
                first = first == null ? dir : first;
            }
        }
        Map<String, Map<String, Map<String, Spread>>> table = new LinkedHashMap<>();
        byVariant.forEach((variant, runs) -> table.put(variant, aggregate(runs)));
        Jsonl.writeJson(out.resolve("experiment.json"), Map.of("seeds", seeds, "variants", variants, "table", table));
        write(out.resolve("experiment.md"), markdown(seeds, table));
        return table;
    }

    /** The summary fields aggregated over seeds. */
    private static final List<String> METRICS = List.of("lc_win_rate", "win_rate", "quality", "mean_length", "alpha",
            "pair_accuracy", "pair_worse", "reward_agreement", "reward_corr_quality", "reward_corr_ref_logp",
            "kl_to_previous", "dpo_delta_logp_chosen", "dpo_delta_logp_rejected");

    /** Stage → metric → spread over seeds. */
    static Map<String, Map<String, Spread>> aggregate(List<List<StageResult>> runs) {
        Map<String, Map<String, Spread>> out = new LinkedHashMap<>();
        for (int s = 0; s < runs.get(0).size(); s++) {
            Map<String, Spread> metrics = new LinkedHashMap<>();
            for (String metric : METRICS) {
                List<Double> values = new ArrayList<>();
                for (List<StageResult> run : runs) {
                    Double v = run.get(s).number(metric);
                    if (v != null && !v.isNaN()) {
                        values.add(v);
                    }
                }
                if (!values.isEmpty()) {
                    double[] x = values.stream().mapToDouble(Double::doubleValue).toArray();
                    metrics.put(metric, new Spread(Stats.mean(x), Stats.sampleStd(x), values));
                }
            }
            out.put(runs.get(0).get(s).name(), metrics);
        }
        return out;
    }

    static String markdown(List<Long> seeds, Map<String, Map<String, Map<String, Spread>>> table) {
        StringBuilder b = new StringBuilder("Seeds: " + seeds + ". Mean ± sample std over seeds.\n\n");
        b.append("| variant | stage | LC win rate | win rate | quality | length (tokens) | α | pairs better | pairs worse"
                + " | r~q | r~log π_prev | KL to previous | Δlogp chosen | Δlogp rejected |\n");
        b.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
        table.forEach((variant, stages) -> stages.forEach((stage, m) -> b.append(String.format(
                "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", variant, stage,
                cell(m, "lc_win_rate"), cell(m, "win_rate"), cell(m, "quality"), cell(m, "mean_length"), cell(m, "alpha"),
                cell(m, "pair_accuracy"), cell(m, "pair_worse"), cell(m, "reward_corr_quality"),
                cell(m, "reward_corr_ref_logp"), cell(m, "kl_to_previous"), cell(m, "dpo_delta_logp_chosen"),
                cell(m, "dpo_delta_logp_rejected")))));
        return b.toString();
    }

    private static String cell(Map<String, Spread> metrics, String name) {
        Spread s = metrics.get(name);
        return s == null ? "–" : String.format("%.3f ± %.3f", s.mean(), s.std());
    }

    private static void copyStage(Path from, Path to, String stage) {
        Path source = from.resolve(stage);
        try (Stream<Path> files = Files.walk(source)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                Path target = to.resolve(stage).resolve(source.relativize(file).toString());
                if (Files.isDirectory(file)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(file, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void write(Path file, String text) {
        try {
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
