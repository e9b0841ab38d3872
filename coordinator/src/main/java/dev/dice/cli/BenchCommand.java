package dev.dice.cli;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.ConfigFactory;
import dev.dice.bench.AllReduceBench;
import dev.dice.bench.AlphaBench;
import dev.dice.bench.GenerateBench;
import dev.dice.bench.MemoryBench;
import dev.dice.bench.OverlapBench;
import dev.dice.bench.PeerComparison;
import dev.dice.bench.PlacementBench;
import dev.dice.bench.ReplayBench;
import dev.dice.bench.RoundBench;
import dev.dice.bench.SnapshotBench;
import dev.dice.bench.SyncBench;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.RunConfig;
import dev.dice.coordinator.TrainersPerDevice;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.RuntimeBench;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code dice bench runtime|generate|round|alpha|replay|allreduce|sync|snapshot|overlap|memory}: benchmarks that print one JSON object on their last line. */
@Command(name = "bench", description = "Benchmarks; each prints one JSON object on its last line.")
final class BenchCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "What to measure: runtime, generate, round, alpha, replay, allreduce, sync,"
            + " snapshot, overlap, memory")
    String what;

    @Option(names = "--repeats", description = "Timed repetitions per figure (median reported; default 7, round: 1).")
    Integer repeats;

    @Option(names = "--placements", split = ",", paramLabel = "WxT[:R]", description = "round: placements of the"
            + " model workers to compare, alternating: W generators and W scorers of T intra-op threads each, then R"
            + " trainers (default: the configuration's, dice.cluster.generators x dice.cluster.threads-per-worker :"
            + " dice.cluster.trainers; without :R the configuration's trainers).")
    List<String> placements;

    @Option(names = "--prompts", description = "round: the round's prompts (default: the configuration's).")
    Integer prompts;

    @Option(names = "--sweep", description = "round: instead, each stage's cost alone at 64-256 prompts and K = 4, 8.")
    boolean sweep;

    @Option(names = "--postgres-url", description = "replay: also measure on this PostgreSQL JDBC URL (user postgres).")
    String postgresUrl;

    @Option(names = "--ranks", defaultValue = "2", description = "allreduce, overlap: ranks (separate processes on loopback).")
    int ranks;

    @Option(names = "--mb", description = "allreduce: MiB of fp32 reduced and broadcast (16); sync: the model's MiB (64); snapshot: (2304).")
    Integer mb;

    @Option(names = "--link-mbit", description = "sync (250), overlap (1000): every node's uplink in Mbit/s (0: loopback"
            + " unshaped).")
    Integer linkMbit;

    @Option(names = "--pairs", description = "overlap: DPO pairs per step over all ranks (default 32); memory: DPO"
            + " pairs per trainer's step (default 2).")
    Integer pairs;

    @Option(names = "--bucket-kb", description = "overlap: gradient bucket size in KiB (default: the trainers' 25 MiB).")
    Long bucketKb;

    @Option(names = "--fp16", description = "allreduce: send the gradients as fp16 (sums stay fp32).")
    boolean fp16;

    @Option(names = "--peer", arity = "0..1", fallbackValue = PeerComparison.DEFAULT_SCRIPT, paramLabel = "SCRIPT",
            description = "runtime: also time a PyTorch-eager peer script (without SCRIPT: the repository's "
            + PeerComparison.DEFAULT_SCRIPT + ") in alternation with our DPO step, and its sibling "
            + PeerComparison.GENERATE_SCRIPT + " with our decoding and scoring, and report the speed-ups.")
    String peer;

    @Option(names = "--model", description = "runtime, generate, overlap: time this Hugging Face checkpoint directory"
            + " instead of the built-in model's shapes; memory: measure its config.json's shape (random weights) instead"
            + " of three sizes of Llama-3-8B's proportions.")
    Path model;

    @Option(names = "--trainers", defaultValue = "4", description = "memory: trainer processes of the data-parallel"
            + " settings (default ${DEFAULT-VALUE}; 1: single-trainer settings only).")
    int trainers;

    @Option(names = "--positions", defaultValue = "256", description = "memory: positions of every row.")
    int positions;

    @Option(names = "--steps", defaultValue = "3", description = "memory: DPO steps per trainer (the first not timed).")
    int steps;

    @Option(names = "--rows-in-flight", defaultValue = "32", description = "generate: rows decoded at once.")
    int rowsInFlight;

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "generate: the token limit of a row.")
    int maxNewTokens;

    @Option(names = "--peer-python", defaultValue = "/usr/bin/python3",
            description = "runtime: the Python that has torch, for --peer (default: ${DEFAULT-VALUE}).")
    String peerPython;

    @Option(names = "--peer-rounds", defaultValue = "5", description = "runtime: alternating peer/our rounds.")
    int peerRounds;

    @Option(names = "--peer-threads", description = "runtime: the peer's threads (default: ours, DICE_THREADS); "
            + "each side at its best thread count is a fair comparison too.")
    Integer peerThreads;

    @Override
    public Integer call() {
        Map<String, Object> result;
        int repeats = this.repeats != null ? this.repeats : what.equals("round") ? 1 : 7;
        switch (what) {
            case "runtime" -> {
                int threads = Integer.getInteger("ai.djl.pytorch.num_threads", -1);
                try (NDManager root = NDManager.newBaseManager()) {
                    RuntimeBench bench = new RuntimeBench(root, repeats);
                    result = model != null ? bench.runCheckpoint(model) : bench.run(builtinModel());
                    if (peer != null) {
                        Path script = PeerComparison.locate(peer, System.getenv("DICE_HOME"));
                        int theirs = peerThreads != null ? peerThreads : Math.max(1, threads);
                        result.put("peer", PeerComparison.run(bench, script, peerPython, peerRounds, theirs, 30));
                        if (model == null) {
                            result.put("peer_generate", PeerComparison.runGenerate(bench, builtinModel(),
                                    script.resolveSibling(PeerComparison.GENERATE_SCRIPT), peerPython, peerRounds,
                                    theirs));
                        }
                    }
                }
                result.put("threads", threads);
            }
            case "generate" -> {
                try (NDManager root = NDManager.newBaseManager()) {
                    result = new GenerateBench(root, repeats).run(builtinModel(), model, 32, 4, rowsInFlight,
                            maxNewTokens);
                }
            }
            case "allreduce" -> result = AllReduceBench.run(ranks, mb != null ? mb : 16, repeats, fp16);
            case "sync" -> result = SyncBench.run(mb != null ? mb : 64, repeats, linkMbit != null ? linkMbit : 250);
            case "snapshot" -> result = SnapshotBench.run(mb != null ? mb : 2304);
            case "memory" -> result = MemoryBench.run(model != null
                    ? List.of(new MemoryBench.Size(model.getFileName().toString(),
                            LlamaConfig.load(model.resolve(Checkpoint.CONFIG_FILE))))
                    : MemoryBench.defaultSizes(), trainers,
                    new MemoryBench.Workload(pairs != null ? pairs : 2, positions, steps));
            case "overlap" -> result = OverlapBench.run(model != null ? LlamaConfig.load(model.resolve("config.json"))
                    : builtinModel(), model != null ? model.toString() : "built-in", ranks,
                    pairs != null ? pairs : 32, repeats,
                    bucketKb != null ? bucketKb << 10 : GradBuckets.DEFAULT_BUCKET_BYTES,
                    linkMbit != null ? linkMbit : 1000);
            case "round" -> result = sweep ? new RoundBench(builtinModel(), 32, 128).sweep() : placementRound(repeats);
            case "alpha" -> result = AlphaBench.run(10_000, 16, repeats);
            case "replay" -> result = ReplayBench.h2AndPostgres(postgresUrl);
            default -> throw new IllegalArgumentException("bench: unknown benchmark '" + what
                    + "' (expected: runtime, generate, round, alpha, replay, allreduce, sync, snapshot, overlap, memory)");
        }
        System.out.println(Json.write(result));
        return 0;
    }

    /** The default configuration's round, for each placement asked for (default: the configuration's). */
    private Map<String, Object> placementRound(int repeats) {
        RunConfig config = RunConfig.from(TrainersPerDevice.resolve(DiceRun.configure(ConfigFactory.empty(), null,
                "default")));
        int trainers = config.trainers().count();
        PlacementBench.Shape shape = new PlacementBench.Shape(prompts != null ? prompts : config.rounds().prompts(),
                config.rounds().k(), config.rounds().maxNewTokens(), config.cluster().shardSize(),
                config.cluster().batchRows());
        List<PlacementBench.Placement> compared = placements == null
                ? List.of(new PlacementBench.Placement(config.cluster().generatorsOn(false),
                        config.cluster().threadsPerWorker(), trainers))
                : placements.stream().map(p -> PlacementBench.Placement.parse(p, trainers)).toList();
        return new PlacementBench(config.model().builtin(), shape).run(compared, repeats);
    }

    /** The embedded default's model, as the default configuration shapes it. */
    private static LlamaConfig builtinModel() {
        return RunConfig.from(DiceRun.configure(ConfigFactory.empty(), null, "default")).model().builtin();
    }
}
