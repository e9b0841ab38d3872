package dev.dice.bench;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.gpu.LlamaConfig;
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
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Pattern MS_PER_STEP = Pattern.compile("ms/step=([0-9.]+)");

    /** The peer {@code --peer} runs when given no script, relative to the repository's root. */
    public static final String DEFAULT_SCRIPT = "bench/peer/peer_dpo_step.py";

    /** The decoding and scoring peer, found beside the DPO peer. */
    public static final String GENERATE_SCRIPT = "peer_generate.py";

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

    /**
     * Our KV-cached decoding and scoring against {@code peer_generate.py} (beside the DPO peer, the embedded default's
     * shapes), alternating round after round; scoring both with every prompt distinct and with K = 4 responses per
     * prompt, as a round scores them. Each ratio is ours over the peer's rate in the same round; medians reported.
     */
    public static Map<String, Object> runGenerate(RuntimeBench bench, LlamaConfig builtin, Path script, String python,
            int rounds, int threads) {
        if (!Files.isRegularFile(script)) {
            throw new IllegalArgumentException("--peer: no such file: " + script);
        }
        String[] figures = {"decode", "score", "score_k4"};
        double[][] ratio = new double[figures.length][rounds];
        List<Map<String, Object>> perRound = new ArrayList<>();
        for (int r = 0; r < rounds; r++) {
            Map<String, Object> distinct = peerJson(script, python, threads, 1);
            Map<String, Object> shared = peerJson(script, python, threads, 4);
            double[] peer = {number(distinct, "decode_tokens_per_s_kv"), number(distinct, "score_sequences_per_s"),
                number(shared, "score_sequences_per_s")};
            double[] ours = {bench.decodeTokensPerSecond(builtin, true),
                bench.scoreSequencesPerSecond(builtin, 64, 64, 1), bench.scoreSequencesPerSecond(builtin, 64, 64, 4)};
            Map<String, Object> row = new LinkedHashMap<>();
            for (int f = 0; f < figures.length; f++) {
                ratio[f][r] = ours[f] / peer[f];
                row.put(figures[f] + "_ours", Figures.round(ours[f]));
                row.put(figures[f] + "_peer", Figures.round(peer[f]));
            }
            perRound.add(row);
            System.err.println("peer_generate round " + (r + 1) + ": " + row);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("command", python + " " + script.getFileName() + " " + threads + " 5 K");
        out.put("peer_threads", threads);
        out.put("rounds", perRound);
        for (int f = 0; f < figures.length; f++) {
            out.put(figures[f] + "_speedup_median", Figures.round(median(ratio[f])));
        }
        return out;
    }

    private static double number(Map<String, Object> json, String field) {
        if (!(json.get(field) instanceof Number n)) {
            throw new IllegalStateException("peer printed no number '" + field + "': " + json);
        }
        return n.doubleValue();
    }

    /** One run of {@code peer_generate.py}: the JSON object on its last line. */
    static Map<String, Object> peerJson(Path script, String python, int threads, int k) {
        String output = runPeer(script, python, threads, String.valueOf(threads), "5", String.valueOf(k));
        String[] lines = output.strip().split("\n");
        try {
            return MAPPER.readValue(lines[lines.length - 1], new TypeReference<Map<String, Object>>() {});
        } catch (IOException e) {
            throw new IllegalStateException("peer " + script + " printed no JSON last line; its output ends:\n"
                    + tail(output), e);
        }
    }

    /** One run of the peer script; its own timing line ("ms/step=...") is the figure. */
    static double peerStepMs(Path script, String python, int threads, int steps) {
        String output = runPeer(script, python, threads, "32", String.valueOf(threads), String.valueOf(steps));
        Matcher m = MS_PER_STEP.matcher(output);
        if (!m.find()) {
            throw new IllegalStateException("peer " + script + " printed no 'ms/step=' line; its output ends:\n"
                    + tail(output));
        }
        return Double.parseDouble(m.group(1));
    }

    /** The peer's output (stdout and stderr); a peer that cannot start or fails is an error naming both. */
    private static String runPeer(Path script, String python, int threads, String... args) {
        List<String> command = new ArrayList<>(List.of(python, script.toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("OPENBLAS_NUM_THREADS", String.valueOf(threads));
        pb.environment().put("OMP_NUM_THREADS", String.valueOf(threads));
        pb.redirectErrorStream(true);
        try {
            Process process = pb.start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int exit = process.waitFor();
            if (exit != 0) {
                throw new IllegalStateException("peer " + script + " (python '" + python + "', exit " + exit
                        + ") failed; its output ends:\n" + tail(output));
            }
            return output;
        } catch (IOException e) {
            throw new IllegalArgumentException("--peer-python: cannot run '" + python + "': " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the peer ran", e);
        }
    }

    private static String tail(String output) {
        return output.length() > 600 ? output.substring(output.length() - 600) : output;
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
