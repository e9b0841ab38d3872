package dev.dice.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report on small synthetic run and experiment directories (no model): every chart is there and is a PNG. */
class RunReportTest {
    private static final Pattern IMG = Pattern.compile(
            "<img data-chart=\"([^\"]+)\" alt=\"([^\"]+)\" title=\"[^\"]+\" src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\">");

    static List<String> charts(String html) {
        List<String> ids = new ArrayList<>();
        Matcher m = IMG.matcher(html);
        while (m.find()) {
            byte[] png = Base64.getDecoder().decode(m.group(3));
            assertTrue(png.length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G', m.group(1) + " is a PNG");
            ids.add(m.group(1));
        }
        return ids;
    }

    @Test
    void runReportHoldsEveryChart(@TempDir Path dir) throws Exception {
        fakeRun(dir, 2, true);
        Path report = RunReport.write(dir);
        String html = Files.readString(report, StandardCharsets.UTF_8);
        assertTrue(html.startsWith("<!DOCTYPE html>"));
        assertTrue(!html.contains("src=\"http") && !html.contains("<script"), "self-contained");
        assertEquals(List.of("win-rates", "lengths", "hist-round1-alpha0", "hist-round1-alphastar",
                "alpha-curve-round1", "hist-round2-alpha0", "hist-round2-alphastar", "alpha-curve-round2",
                "dpo-loss", "reward-accuracy"), charts(html));
        assertTrue(html.contains("Win rate and LC win rate per stage"));
        assertTrue(html.contains("mean length difference vs α"));
    }

    @Test
    void unfinishedRunWithoutSummaryStillReports(@TempDir Path dir) throws Exception {
        fakeRun(dir, 1, false);
        List<String> ids = charts(RunReport.html(dir));
        assertTrue(ids.containsAll(List.of("win-rates", "lengths", "hist-round1-alpha0", "alpha-curve-round1",
                "dpo-loss", "reward-accuracy")), ids.toString());
    }

    @Test
    void experimentReportComparesVariants(@TempDir Path dir) throws Exception {
        fakeRun(dir.resolve("seed0/alpha*"), 2, true);
        fakeRun(dir.resolve("seed0/alpha0"), 2, true);
        StringBuilder table = new StringBuilder();
        for (String v : List.of("alpha*", "alpha0")) {
            table.append(table.length() == 0 ? "" : ",").append('"').append(v).append("\":{");
            List<String> stages = List.of("sft", "dpo", "round1", "round2");
            for (int i = 0; i < stages.size(); i++) {
                table.append(i == 0 ? "" : ",").append('"').append(stages.get(i)).append("\":{\"lc_win_rate\":{\"mean\":")
                        .append(0.5 + 0.01 * i).append(",\"std\":0.01,\"values\":[0.5]},\"mean_length\":{\"mean\":")
                        .append(v.equals("alpha0") ? 15 + i : 15 - i * 0.5).append(",\"std\":0.1,\"values\":[15]}}");
            }
            table.append('}');
        }
        Files.writeString(dir.resolve("experiment.json"), "{\"seeds\":[0],\"variants\":[{\"name\":\"alpha*\",\"alpha\":\"auto\","
                + "\"gamma\":0.5},{\"name\":\"alpha0\",\"alpha\":\"0\",\"gamma\":0.5}],\"table\":{" + table + "}}");
        String html = Files.readString(RunReport.write(dir), StandardCharsets.UTF_8);
        List<String> ids = charts(html);
        assertTrue(ids.containsAll(List.of("experiment-win-rates", "experiment-lengths", "seed0-alpha_-win-rates",
                "seed0-alpha0-alpha-curve-round2", "seed0-alpha0-reward-accuracy")), ids.toString());
        assertTrue(html.contains("α* against α = 0"));
    }

    @Test
    void refusesADirectoryThatIsNoRun(@TempDir Path dir) {
        assertThrows(IllegalArgumentException.class, () -> RunReport.write(dir));
    }

    /** A run directory with the files a real run writes (values random but well-formed). */
    static void fakeRun(Path dir, int rounds, boolean summary) throws Exception {
        Random random = new Random(7);
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("run-config.json"), "{\"rounds\":{\"k\":4}}");
        List<String> stages = new ArrayList<>(List.of("sft", "dpo"));
        for (int t = 1; t <= rounds; t++) {
            stages.add("round" + t);
        }
        StringBuilder rows = new StringBuilder();
        for (String stage : stages) {
            boolean round = stage.startsWith("round");
            String row = String.format(java.util.Locale.ROOT, "{\"name\":\"%s\",\"win_rate\":%.3f,\"lc_win_rate\":%.3f,"
                    + "\"quality\":0.3,\"mean_length\":%.2f,\"alpha\":%s,\"seconds\":3.0}", stage, 0.4 + random.nextDouble() / 5,
                    0.4 + random.nextDouble() / 5, 12 + random.nextDouble() * 4, round ? "0.01" : "null");
            rows.append(rows.length() == 0 ? "" : ",").append(row);
            Files.createDirectories(dir.resolve(stage).resolve("model"));
            Files.writeString(dir.resolve(stage).resolve("stage.json"), row);
            StringBuilder log = new StringBuilder("[");
            for (int step = 1; step <= 20; step++) {
                log.append(step == 1 ? "" : ",").append(String.format(java.util.Locale.ROOT,
                        "{\"step\":%d,\"loss\":%.4f,\"rewardAccuracy\":%s,\"learningRate\":1e-5}", step,
                        0.69 - step * 0.003, stage.equals("sft") ? "\"NaN\"" : String.valueOf(0.5 + step * 0.02)));
            }
            Files.writeString(dir.resolve(stage).resolve("model").resolve("train_log.json"), log.append("]").toString());
            if (round) {
                StringBuilder scored = new StringBuilder();
                for (int p = 0; p < 30; p++) {
                    for (int s = 0; s < 4; s++) {
                        int tokens = 3 + random.nextInt(20);
                        double reward = random.nextGaussian() * 0.1 + tokens * 0.005;
                        scored.append(String.format(java.util.Locale.ROOT, "{\"prompt_id\":\"%s-%d\",\"sample\":%d,"
                                + "\"response\":\"x\",\"tokens\":%d,\"chars\":%d,\"logp_policy\":%.5f,\"logp_ref\":-10.0,"
                                + "\"ended_on_eos\":true,\"valid\":%s}%n", stage, p, s, tokens, tokens, -10.0 + reward,
                                random.nextInt(8) != 0));
                    }
                }
                Files.writeString(dir.resolve(stage).resolve("scored.jsonl"), scored);
            }
        }
        if (summary) {
            Files.writeString(dir.resolve("summary.json"), "{\"stages\":[" + rows + "]}");
        }
    }
}
