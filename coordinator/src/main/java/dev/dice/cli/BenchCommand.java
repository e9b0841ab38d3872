package dev.dice.cli;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.RuntimeBench;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import dev.dice.coordinator.RoundBench;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dice bench runtime|round}: benchmarks that print one JSON object on their last line. */
@Command(name = "bench", description = "Benchmarks; each prints one JSON object on its last line.")
final class BenchCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "What to measure: runtime, round")
    String what;

    @Option(names = "--repeats", defaultValue = "7", description = "Timed repetitions per figure (median reported).")
    int repeats;

    @Option(names = "--ranks", defaultValue = "2", description = "allreduce: ranks (separate processes on loopback).")
    int ranks;

    @Option(names = "--mb", defaultValue = "16", description = "allreduce: MiB of fp32 reduced and broadcast.")
    int mb;

    @Override
    public Integer call() {
        Map<String, Object> result;
        switch (what) {
            case "runtime" -> {
                try (NDManager root = NDManager.newBaseManager()) {
                    result = new RuntimeBench(root, repeats).run(BuiltinModel.config());
                }
                result.put("threads", Integer.getInteger("ai.djl.pytorch.num_threads", -1));
            }
            case "allreduce" -> result = AllReduceBench.run(ranks, mb, repeats);
            case "round" -> {
                RoundBench bench = new RoundBench(BuiltinModel.config(), 32, 128);
                bench.measure(16, 2); // warm-up
                List<Map<String, Object>> rows = new ArrayList<>();
                for (int k : new int[] {4, 8}) {
                    for (int prompts : new int[] {64, 128, 256}) {
                        rows.add(bench.measure(prompts, k));
                        System.err.println(rows.get(rows.size() - 1));
                    }
                }
                result = new LinkedHashMap<>();
                result.put("max_new_tokens", 32);
                result.put("rows", rows);
            }
            default -> throw new IllegalArgumentException("bench: unknown benchmark '" + what + "' (expected: runtime, round)");
        }
        System.out.println(Json.write(result));
        return 0;
    }
}
