package dev.dice.bench;

import ai.djl.ndarray.NDManager;
import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import dev.dice.algo.PairSelection;
import dev.dice.coordinator.CpuClock;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Sampling;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.task.BuiltinTask;
import dev.dice.task.Prompt;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import dev.dice.work.Training;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code dice bench round}: one round at a run's round shape (prompts, K, token limit, shard size, rows in flight)
 * done the way a run does it in one JVM, for each {@link Placement} of the model workers: generators pull prompt
 * shards and scorers score each generated shard as it comes (so generation of one shard overlaps scoring of the
 * one before), then the α* sweep and one epoch of DPO on the round's pairs and as many replayed ones, on the
 * placement's trainers as a run's (one on the JVM's intra-op threads, or a ring of replicas dividing them). Each placement's round time and CPU utilisation (process CPU seconds / wall
 * seconds / cores), placements alternating, medians of the repeats. As in {@link RoundBench}, untrained models
 * rarely end on EOS, so nearly every response decodes to the limit; every placement samples the same responses,
 * which the result checks ({@code same_responses}).
 */
public final class PlacementBench {

    /**
     * {@code workers} generators and as many scorers, each on {@code threads} intra-op threads (0: the JVM's), then
     * DPO on a ring of {@code trainers} trainers that divide the JVM's threads (one: a trainer on all of them).
     */
    public record Placement(int workers, int threads, int trainers) {
        public Placement {
            if (workers < 1 || threads < 0 || trainers < 1) {
                throw new IllegalArgumentException("a placement needs at least one worker and trainer, threads >= 0");
            }
        }

        /** {@code WxT} or {@code WxT:R}, e.g. {@code 2x1:2}: W generators and W scorers of T threads, R trainers. */
        public static Placement parse(String text, int defaultTrainers) {
            String[] workersAndTrainers = text.trim().split(":", -1);
            String[] parts = workersAndTrainers[0].split("x");
            try {
                if (parts.length == 2 && workersAndTrainers.length <= 2) {
                    return new Placement(Integer.parseInt(parts[0]), Integer.parseInt(parts[1]),
                            workersAndTrainers.length == 2 ? Integer.parseInt(workersAndTrainers[1]) : defaultTrainers);
                }
            } catch (IllegalArgumentException e) {
                // reported below
            }
            throw new IllegalArgumentException("--placements: expected WORKERSxTHREADS[:TRAINERS] such as 2x1 or 2x2:2"
                    + " (threads 0: the JVM's), got \"" + text + "\"");
        }

        @Override
        public String toString() {
            return workers + "x" + (threads > 0 ? threads : IntraOpThreads.jvmDefault()) + ":" + trainers;
        }
    }

    /** The round's shape, as a run's configuration gives it. */
    public record Shape(int prompts, int k, int maxNewTokens, int shardSize, int batchRows) {}

    private final LlamaConfig config;
    private final Shape shape;

    public PlacementBench(LlamaConfig config, Shape shape) {
        this.config = config;
        this.shape = shape;
    }

    /** {@code repeats} alternating passes over {@code placements} after one small warm-up of each. */
    public Map<String, Object> run(List<Placement> placements, int repeats) {
        Shape warm = new Shape(Math.min(shape.prompts(), 2 * shape.shardSize()), shape.k(), 8, shape.shardSize(),
                shape.batchRows());
        placements.forEach(p -> new PlacementBench(config, warm).round(p));
        double loadBefore = AllReduceBench.loadAverage();
        List<List<Map<String, Object>>> runs = new ArrayList<>();
        placements.forEach(p -> runs.add(new ArrayList<>()));
        for (int r = 0; r < repeats; r++) {
            for (int i = 0; i < placements.size(); i++) {
                Map<String, Object> one = round(placements.get(i));
                System.err.println(one);
                runs.get(i).add(one);
            }
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < placements.size(); i++) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("placement", placements.get(i).toString());
            for (String field : List.of("round_s", "cpu_utilization", "cpu_s", "generate_score_s",
                    "generate_score_cpu_utilization", "generate_score_cpu_s", "train_s", "train_cpu_utilization")) {
                row.put(field, Figures.median(runs.get(i).stream().mapToDouble(m -> (double) m.get(field)).toArray()));
            }
            row.put("train_pairs", runs.get(i).get(0).get("train_pairs"));
            rows.add(row);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("prompts", shape.prompts());
        result.put("k", shape.k());
        result.put("max_new_tokens", shape.maxNewTokens());
        result.put("shard_size", shape.shardSize());
        result.put("batch_rows", shape.batchRows());
        result.put("cores", Runtime.getRuntime().availableProcessors());
        result.put("repeats", repeats);
        result.put("load_average", List.of(loadBefore, AllReduceBench.loadAverage()));
        result.put("placement", rows.get(0).get("placement"));
        result.put("round_s", rows.get(0).get("round_s"));
        result.put("cpu_utilization", rows.get(0).get("cpu_utilization"));
        result.put("same_responses", runs.stream().flatMap(List::stream).map(m -> m.get("responses_sha256"))
                .distinct().count() == 1);
        result.put("placements", rows);
        return result;
    }

    /** One round with this placement: generation and scoring pipelined, then shaping and training. */
    Map<String, Object> round(Placement placement) {
        List<PromptShard> shards = shards();
        try (NDManager root = NDManager.newBaseManager()) {
            List<Policy[]> models = new ArrayList<>(); // per scorer: policy and reference; per generator: the policy
            for (int i = 0; i < 2 * placement.workers(); i++) {
                models.add(models(root));
            }
            ShardGeneration generation = new ShardGeneration(shape.batchRows(), 0, placement.threads());
            Scoring scoring = new Scoring(shape.batchRows(), placement.threads());
            BlockingQueue<PromptShard> toGenerate = new LinkedBlockingQueue<>(shards);
            BlockingQueue<GeneratedShard> toScore = new LinkedBlockingQueue<>();
            ConcurrentLinkedQueue<ScoredShard> scored = new ConcurrentLinkedQueue<>();
            AtomicInteger unscored = new AtomicInteger(shards.size());
            ExecutorService pool = Executors.newFixedThreadPool(2 * placement.workers());
            CpuClock clock = CpuClock.start();
            List<Future<?>> work = new ArrayList<>();
            for (int w = 0; w < placement.workers(); w++) {
                Policy policy = models.get(w)[0];
                work.add(pool.submit(() -> {
                    for (PromptShard s = toGenerate.poll(); s != null; s = toGenerate.poll()) {
                        toScore.add(generation.generate(policy, s));
                    }
                    return null;
                }));
            }
            for (int w = 0; w < placement.workers(); w++) {
                Policy[] pair = models.get(placement.workers() + w);
                work.add(pool.submit(() -> {
                    while (unscored.getAndDecrement() > 0) { // each take claims one of the shards still to score
                        scored.add(scoring.score(pair[0], pair[1], toScore.take()));
                    }
                    return null;
                }));
            }
            try {
                for (Future<?> f : work) {
                    f.get();
                }
            } catch (Exception e) {
                throw new IllegalStateException("bench round: a worker failed: " + e.getMessage(), e);
            } finally {
                pool.shutdownNow();
            }
            CpuClock.Use generateScore = clock.since();
            CpuClock trainClock = CpuClock.start();
            Policy trained = models.get(0)[0];
            int pairs = train(trained, new ArrayList<>(scored), placement.trainers());
            CpuClock.Use train = trainClock.since();
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("placement", placement.toString());
            row.put("round_s", Figures.round(generateScore.wallSeconds() + train.wallSeconds()));
            row.put("cpu_utilization", Figures.round((generateScore.cpuSeconds() + train.cpuSeconds())
                    / (generateScore.wallSeconds() + train.wallSeconds()) / generateScore.cores()));
            row.put("cpu_s", Figures.round(generateScore.cpuSeconds() + train.cpuSeconds()));
            row.put("generate_score_s", Figures.round(generateScore.wallSeconds()));
            row.put("generate_score_cpu_s", Figures.round(generateScore.cpuSeconds()));
            row.put("generate_score_cpu_utilization", Figures.round(generateScore.utilization()));
            row.put("train_s", Figures.round(train.wallSeconds()));
            row.put("train_cpu_utilization", Figures.round(train.utilization()));
            row.put("train_pairs", pairs);
            row.put("responses_sha256", digest(scored));
            return row;
        }
    }

    private Policy[] models(NDManager root) {
        RoundBench.Latin1 bytes = new RoundBench.Latin1(new dev.dice.gpu.ByteTokenizer().eosId());
        // Another initialisation as the reference, so that implicit rewards differ and pairs exist.
        return new Policy[] {new Policy(Llama.init(config, root.newSubManager(), 1), bytes, 0),
                new Policy(Llama.init(config, root.newSubManager(), 2), bytes, -1)};
    }

    private List<PromptShard> shards() {
        // Only prompts leaving room for the whole limit (+ BOS, newline, EOS) fit; the round splits hold enough of them.
        List<Prompt> prompts = new ArrayList<>();
        for (int r = 1; prompts.size() < shape.prompts() && r <= 4; r++) {
            new BuiltinTask(1).prompts("round" + r, 1000).stream()
                    .filter(p -> p.text().getBytes(StandardCharsets.UTF_8).length + shape.maxNewTokens() + 3
                            <= config.maxPositionEmbeddings())
                    .limit(shape.prompts() - prompts.size()).forEach(prompts::add);
        }
        List<PromptShard> shards = new ArrayList<>();
        for (int from = 0; from < prompts.size(); from += shape.shardSize()) {
            PromptShard.Builder shard = PromptShard.newBuilder().setJob("bench").setShard(shards.size())
                    .setSamplesPerPrompt(shape.k()).setSeed(7).setSampling(Sampling.newBuilder().setTemperature(0.7)
                            .setTopP(0.9).setMaxNewTokens(shape.maxNewTokens()));
            prompts.subList(from, Math.min(prompts.size(), from + shape.shardSize())).forEach(p -> shard.addPrompts(
                    dev.dice.proto.Prompt.newBuilder().setId(p.id()).setText(p.text())));
            shards.add(shard.build());
        }
        return shards;
    }

    /** α*, the pairs, and one epoch of DPO over them and as many replayed (γ = 0.5), as a run's trainer does. */
    private int train(Policy policy, List<ScoredShard> scored, int trainers) {
        IntraOpThreads.use(0);
        List<ScoredResponse> responses = scored.stream().sorted(Comparator.comparingInt(ScoredShard::getShard))
                .flatMap(s -> s.getResponsesList().stream()).toList();
        List<Candidate> candidates = new ArrayList<>();
        for (ScoredResponse s : responses) {
            candidates.add(new Candidate(s.getResponse().getPromptId(), s.getResponse().getSample(), s.getLogpPolicy(),
                    s.getLogpRef(), s.getResponse().getTokens(), true));
        }
        AlphaSearch.Result alpha = AlphaSearch.search(candidates, PairSelection.minValidFor(shape.k()));
        int pairs = PairSelection.select(candidates, alpha.alpha(), PairSelection.minValidFor(shape.k())).size();
        List<PreferencePair> data = new ArrayList<>();
        for (int i = 0; i < 2 * pairs; i++) {
            ScoredResponse c = responses.get((2 * i) % responses.size());
            ScoredResponse r = responses.get((2 * i + 1) % responses.size());
            data.add(PreferencePair.newBuilder().setPrompt("x").setChosen(c.getResponse().getText())
                    .setRejected(r.getResponse().getText()).setRefLogpChosen(c.getLogpPolicy())
                    .setRefLogpRejected(r.getLogpPolicy()).build());
        }
        Training.Settings settings = new Training.Settings(Math.max(1, data.size() / 32), 32, 1e-6, 1, 1.0, 0.1, 3);
        if (trainers == 1) {
            Training.dpo(policy, data, settings, s -> {});
        } else {
            RingTraining.dpo(policy, data, settings, trainers);
        }
        return data.size();
    }

    /** The round's responses in (shard, row) order, whichever worker sampled them. */
    private static String digest(java.util.Collection<ScoredShard> scored) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            scored.stream().sorted(Comparator.comparingInt(ScoredShard::getShard)).forEach(s -> s.getResponsesList()
                    .forEach(r -> sha.update(r.getResponse().toByteArray())));
            return HexFormat.of().formatHex(sha.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
