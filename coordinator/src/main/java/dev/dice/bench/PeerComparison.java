package dev.dice.bench;

import dev.dice.gpu.RuntimeBench;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code dice bench runtime --peer [SCRIPT]}: our DPO step and the PyTorch-eager peer's ({@code
 * bench/peer/peer_dpo_step.py} unless SCRIPT names another, same shapes), timed in alternation, round after round (by
 * default on the same number of threads; {@code --peer-threads} gives the peer its own). A shared machine's
 * speed drifts by tens of percent within minutes, so only figures taken side by side make a fair ratio: each
 * round's ratio is peer ms / our ms, and the median of those rounds is the speed-up reported. Both sides are timed
 * the peer's way: the mean of {@code steps} steps after 5 warm-up steps.
 */
public final class PeerComparison {
    private static final Pattern MS_PER_STEP = Pattern.compile("ms/step=([0-9.]+)");

    /** The peer {@code --peer} runs when given no script, relative to the repository's root. */
    public static final String DEFAULT_SCRIPT = "bench/peer/peer_dpo_step.py";

    private PeerComparison() {}

    /**
     * The peer script: {@code script} as given when it exists (relative to the working directory), else resolved
     * against {@code home}, the repository's root that the {@code dice} launcher exports as {@code DICE_HOME}, so
     * that the default peer is found from any directory.
     */
    public static Path locate(String script, String home) {
        Path given = Path.of(script);
        if (Files.exists(given) || given.isAbsolute() || home == null) {
            return given;
        }
        return Path.of(home).resolve(given);
    }

    /** {@code threads}: the peer's (ours are the process's libtorch threads). */
    public static Map<String, Object> run(RuntimeBench bench, Path script, String python, int rounds, int threads, int steps) {
        if (!Files.isRegularFile(script)) {
            throw new IllegalArgumentException("--peer: no such file: " + script);
        }
        List<Map<String, Object>> perRound = new ArrayList<>();
        double[] ours = new double[rounds];
        double[] peer = new double[rounds];
        double[] ratio = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            peer[r] = peerStepMs(script, python, threads, steps);
            ours[r] = bench.peerShapedDpoStepMsAsPeer(steps);
            ratio[r] = peer[r] / ours[r];
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("peer_ms", Figures.round(peer[r]));
            row.put("dpo_step_ms", Figures.round(ours[r]));
            row.put("speedup", Figures.round(ratio[r]));
            perRound.add(row);
            System.err.println("peer round " + (r + 1) + ": " + row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("script", script.toString());
        out.put("command", python + " " + script.getFileName() + " 32 " + threads + " " + steps);
        out.put("peer_threads", threads);
        out.put("rounds", perRound);
        out.put("peer_dpo_step_ms_median", Figures.round(median(peer)));
        out.put("dpo_step_ms_median", Figures.round(median(ours)));
        out.put("speedup_median", Figures.round(median(ratio)));
        out.put("speedup_min", Figures.round(Arrays.stream(ratio).min().orElse(0)));
        out.put("speedup_max", Figures.round(Arrays.stream(ratio).max().orElse(0)));
        return out;
    }

    /** One run of the peer script; its own timing line ("ms/step=...") is the figure. */
    static double peerStepMs(Path script, String python, int threads, int steps) {
        ProcessBuilder pb = new ProcessBuilder(python, script.toString(), "32", String.valueOf(threads),
                String.valueOf(steps));
        pb.environment().put("OPENBLAS_NUM_THREADS", String.valueOf(threads));
        pb.environment().put("OMP_NUM_THREADS", String.valueOf(threads));
        pb.redirectErrorStream(true);
        String output;
        int exit;
        try {
            Process process = pb.start();
            output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            exit = process.waitFor();
        } catch (IOException e) {
            throw new IllegalArgumentException("--peer-python: cannot run '" + python + "': " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the peer ran", e);
        }
        Matcher m = MS_PER_STEP.matcher(output);
        if (exit != 0 || !m.find()) {
            String tail = output.length() > 600 ? output.substring(output.length() - 600) : output;
            throw new IllegalStateException("peer " + script + " (python '" + python + "', exit " + exit
                    + ") printed no 'ms/step=' line; its output ends:\n" + tail);
        }
        return Double.parseDouble(m.group(1));
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
