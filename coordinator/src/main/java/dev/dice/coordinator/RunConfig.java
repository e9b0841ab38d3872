package dev.dice.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.LlamaConfig;
import dev.dice.work.Training;
import java.util.OptionalDouble;

/** The settings of one run, read from the {@code dice} block of the HOCON configuration and checked. */
public record RunConfig(
        long seed,
        String out,
        Model model,
        Data data,
        Stage sft,
        Stage dpo,
        Rounds rounds,
        Eval eval,
        Cluster cluster,
        Trainers trainers,
        JournalSettings journal,
        Waits waits,
        Metrics metrics) {

    /**
     * The built-in model's shape, or the user's checkpoint {@code dir} and {@code tokenizer}; {@code chatTemplate}: render
     * prompts with the tokenizer's chat template where it has one; {@code systemPrompt}: a system turn before each;
     * {@code float32Weights}: stages write float32 weights instead of the release's dtype.
     */
    public record Model(int hiddenSize, int intermediateSize, int layers, int heads, int kvHeads, int context,
            String dir, String tokenizer, boolean chatTemplate, String systemPrompt, boolean float32Weights) {
        /** The built-in byte-level model: vocabulary 256 bytes + BOS 256, EOS 257, PAD 258; tied head. */
        public LlamaConfig builtin() {
            return new LlamaConfig(259, hiddenSize, intermediateSize, layers, heads, kvHeads, context, 1e-5, 10000.0,
                    true, 256, 257);
        }
    }

    public record Data(int sftPrompts, int offlinePrompts, int offlinePolicySamples, String prompts, String offlinePairs) {}

    /** A training stage. {@code steps} 0 means {@code epochs} passes over the stage's data, rounded up. */
    public record Stage(int steps, double epochs, int batch, double lr, int warmup, double beta, double maxGradNorm) {
        public Training.Settings settings(long seed, int examples, Trainers trainers) {
            int n = steps > 0 ? steps : Math.max(1, (int) Math.ceil(epochs * examples / batch));
            return new Training.Settings(n, batch, lr, warmup, maxGradNorm, beta, seed,
                    trainers.activationCheckpointing(), trainers.zeroStage());
        }
    }

    public record Rounds(int count, int prompts, int k, double temperature, double topP, int maxNewTokens,
            int minResponseChars, Double alpha, double gamma, Stage training) {
        /** The fixed α, or empty for "auto" (search α*). */
        public OptionalDouble fixedAlpha() {
            return alpha == null ? OptionalDouble.empty() : OptionalDouble.of(alpha);
        }
    }

    public record Eval(int prompts, double temperature, double topP, int agreementPrompts) {}

    /**
     * {@code generatorMemory}: bytes a generator may fill, 0 for {@code batchRows} rows in flight;
     * {@code threadsPerWorker}: libtorch intra-op threads of each generator and scorer (0: the JVM's).
     */
    public record Cluster(int generators, int scorers, int shardSize, int batchRows, long generatorMemory,
            int threadsPerWorker) {
        /**
         * Model workers of one kind on a node's device: as configured, or for 0 two on a CPU (what `./dice bench round`
         * measured fastest on 2 cores) and one on a GPU (each worker holds its own copy of the model; one keeps the
         * device busy).
         */
        private static int on(int configured, boolean gpu) {
            return configured > 0 ? configured : gpu ? 1 : 2;
        }

        public int generatorsOn(boolean gpu) {
            return on(generators, gpu);
        }

        public int scorersOn(boolean gpu) {
            return on(scorers, gpu);
        }
    }

    /**
     * Data-parallel training (every stage): {@code count} trainers in the run's ring, {@code perNode} of them offered
     * by each cluster node with the trainer role, weight checksums compared every {@code checkEvery} steps
     * (the sync points a failed ring resumes from), {@code ringTimeoutMillis} the longest wait for a peer,
     * {@code fp16Gradients} the gradients travel as fp16; {@code weightFetchTimeoutMillis} the longest wait of a worker
     * for the weights the trainers published; {@code activationCheckpointing} every training stage recomputes each
     * decoder layer's activations in backward instead of keeping them; {@code zeroStage} 1 shards the optimizer
     * moments over the ring's ranks, 2 the gradient buckets too (ZeRO); {@code overlapGradients} the gradients are
     * all-reduced while backward runs.
     */
    public record Trainers(int count, int perNode, int checkEvery, long ringTimeoutMillis, boolean fp16Gradients,
            long weightFetchTimeoutMillis, boolean activationCheckpointing, int zeroStage, boolean overlapGradients) {
        public java.time.Duration ringTimeout() {
            return java.time.Duration.ofMillis(ringTimeoutMillis);
        }

        public java.time.Duration weightFetchTimeout() {
            return java.time.Duration.ofMillis(weightFetchTimeoutMillis);
        }
    }

    public record JournalSettings(String kind, String url, String user, String password) {}

    /**
     * How many nodes a cluster waits for before its run starts, how long a shard job waits for its durable queue to
     * store a shard, and a worker for the coordinator's answer before it sends a result again. Not part of a run's
     * configuration fingerprint: a run may resume with others.
     */
    public record Waits(int minNodes, long queueStoreTimeoutMillis, long resultResendAfterMillis) {
        public java.time.Duration queueStoreTimeout() {
            return java.time.Duration.ofMillis(queueStoreTimeoutMillis);
        }

        public java.time.Duration resultResendAfter() {
            return java.time.Duration.ofMillis(resultResendAfterMillis);
        }
    }

    /**
     * The node's Prometheus exporter ({@code port} 0: none, bound on {@code host}) and the {@code node} label of its
     * metrics (empty: the host name). Not part of a run's configuration fingerprint.
     */
    public record Metrics(int port, String host, String node) {}

    /** Reads {@code root.dice}; every problem names the configuration key. */
    public static RunConfig from(Config root) {
        Config c = root.getConfig("dice");
        try {
            RunConfig config = new RunConfig(
                    c.getLong("seed"),
                    c.getString("out"),
                    new Model(c.getInt("model.hidden-size"), c.getInt("model.intermediate-size"), c.getInt("model.layers"),
                            c.getInt("model.heads"), c.getInt("model.kv-heads"), c.getInt("model.context"),
                            c.getString("model.dir"), c.getString("model.tokenizer"), c.getBoolean("model.chat-template"),
                            c.getString("model.system-prompt"), c.getBoolean("model.float32-weights")),
                    new Data(c.getInt("data.sft-prompts"), c.getInt("data.offline-prompts"),
                            c.getInt("data.offline-policy-samples"), c.getString("data.prompts"),
                            c.getString("data.offline-pairs")),
                    stage(c.getConfig("sft"), false),
                    stage(c.getConfig("dpo"), true),
                    new Rounds(c.getInt("rounds.count"), c.getInt("rounds.prompts"), c.getInt("rounds.k"),
                            c.getDouble("rounds.temperature"), c.getDouble("rounds.top-p"),
                            c.getInt("rounds.max-new-tokens"), c.getInt("rounds.min-response-chars"),
                            alpha(c.getString("rounds.alpha")), c.getDouble("rounds.gamma"),
                            stage(c.getConfig("rounds"), true)),
                    new Eval(c.getInt("eval.prompts"), c.getDouble("eval.temperature"), c.getDouble("eval.top-p"),
                            c.getInt("eval.agreement-prompts")),
                    new Cluster(c.getInt("cluster.generators"), c.getInt("cluster.scorers"), c.getInt("cluster.shard-size"),
                            c.getInt("cluster.batch-rows"), c.getBytes("cluster.generator-memory"),
                            c.getInt("cluster.threads-per-worker")),
                    new Trainers(trainers(c.getInt("cluster.trainers")), c.getInt("cluster.node-trainers"),
                            c.getInt("cluster.weight-check-every"),
                            c.getDuration("cluster.ring-timeout").toMillis(), c.getBoolean("cluster.fp16-gradients"),
                            c.getDuration("cluster.weight-fetch-timeout").toMillis(),
                            c.getBoolean("train.activation-checkpointing"), c.getInt("train.zero-stage"),
                            c.getBoolean("train.overlap-gradients")),
                    new JournalSettings(c.getString("journal.kind"), c.getString("journal.url"),
                            c.getString("journal.user"), c.getString("journal.password")),
                    new Waits(c.getInt("cluster.min-nodes"), c.getDuration("cluster.queue-store-timeout").toMillis(),
                            c.getDuration("cluster.result-resend-after").toMillis()),
                    new Metrics(c.getInt("metrics.port"), c.getString("metrics.host"), c.getString("metrics.node")));
            config.validate();
            return config;
        } catch (ConfigException e) {
            throw new BadInputException("configuration: " + e.getMessage(), e);
        }
    }

    /** 0, per device, is one trainer here: a single-process run resolves it first ({@link TrainersPerDevice}). */
    private static int trainers(int configured) {
        return configured == 0 ? 1 : configured;
    }

    private static Stage stage(Config c, boolean dpo) {
        return new Stage(c.getInt("steps"), c.hasPath("epochs") ? c.getDouble("epochs") : 0, c.getInt("batch"),
                c.getDouble("lr"), c.getInt("warmup"), dpo ? c.getDouble("beta") : 0, c.getDouble("max-grad-norm"));
    }

    private static Double alpha(String value) {
        if (value.equals("auto")) {
            return null;
        }
        double alpha;
        try {
            alpha = Double.parseDouble(value);
        } catch (NumberFormatException e) {
            alpha = Double.NaN;
        }
        // Infinity and NaN parse as doubles but are no penalty a run can apply (nor write to run-config.json).
        if (!Double.isFinite(alpha)) {
            throw new BadInputException("dice.rounds.alpha (--alpha): expected \"auto\" or a finite number, got \""
                    + value + "\"");
        }
        return alpha;
    }

    private void validate() {
        require(rounds.k() >= 2, "dice.rounds.k (--k)", "at least 2 samples per prompt (a pair needs two)", rounds.k());
        require(rounds.gamma() >= 0 && rounds.gamma() < 1, "dice.rounds.gamma (--gamma)", "in [0, 1)", rounds.gamma());
        require(dpo.beta() > 0, "dice.dpo.beta", "> 0", dpo.beta());
        require(rounds.training().beta() > 0, "dice.rounds.beta", "> 0", rounds.training().beta());
        require(rounds.fixedAlpha().orElse(0) >= 0, "dice.rounds.alpha (--alpha)", "auto or >= 0", rounds.alpha());
        require(rounds.count() >= 0, "dice.rounds.count (--rounds)", ">= 0", rounds.count());
        require(rounds.temperature() > 0, "dice.rounds.temperature", "> 0", rounds.temperature());
        require(rounds.topP() > 0 && rounds.topP() <= 1, "dice.rounds.top-p", "in (0, 1]", rounds.topP());
        require(eval.temperature() >= 0, "dice.eval.temperature", ">= 0 (0: greedy)", eval.temperature());
        require(eval.topP() > 0 && eval.topP() <= 1, "dice.eval.top-p", "in (0, 1]", eval.topP());
        require(cluster.generators() >= 0, "dice.cluster.generators", ">= 0 (0: per device)", cluster.generators());
        require(cluster.scorers() >= 0, "dice.cluster.scorers", ">= 0 (0: per device)", cluster.scorers());
        require(cluster.threadsPerWorker() >= 0, "dice.cluster.threads-per-worker", ">= 0 (0: the JVM's)",
                cluster.threadsPerWorker());
        require(cluster.shardSize() >= 1, "dice.cluster.shard-size", ">= 1", cluster.shardSize());
        // Each stage before the trainers: a batch of 0 is the stage's mistake, not the number of trainers'.
        String[] names = {"sft", "dpo", "rounds"};
        Stage[] stages = {sft, dpo, rounds.training()};
        for (int i = 0; i < stages.length; i++) {
            Stage s = stages[i];
            String key = "dice." + names[i] + ".";
            require(s.steps() >= 1 || s.epochs() > 0, key + "steps",
                    ">= 1" + (s == rounds.training() ? " (or " + key + "epochs > 0)" : ""), s.steps());
            require(s.batch() >= 1, key + "batch", ">= 1", s.batch());
            require(s.lr() > 0 && Double.isFinite(s.lr()), key + "lr", "a finite number > 0", s.lr());
        }
        int smallestDpoBatch = Math.min(dpo.batch(), rounds.training().batch());
        require(trainers.count() >= 1 && trainers.count() <= smallestDpoBatch, "dice.cluster.trainers (--trainers)",
                "0 (per device) or between 1 and the smallest DPO batch (" + smallestDpoBatch + "): every rank needs a share of each batch",
                trainers.count());
        require(trainers.zeroStage() >= 0 && trainers.zeroStage() <= 2, "dice.train.zero-stage (--zero-stage)",
                "0, 1 or 2", trainers.zeroStage());
        require(trainers.zeroStage() == 0 || !trainers.fp16Gradients(), "dice.train.zero-stage (--zero-stage)",
                "0 with dice.cluster.fp16-gradients = true (ZeRO reduce-scatters fp32 gradients)", trainers.zeroStage());
        require(trainers.perNode() >= 1, "dice.cluster.node-trainers", ">= 1", trainers.perNode());
        require(trainers.checkEvery() >= 1, "dice.cluster.weight-check-every", ">= 1", trainers.checkEvery());
        require(trainers.ringTimeoutMillis() > 0, "dice.cluster.ring-timeout", "> 0", trainers.ringTimeout());
        require(trainers.weightFetchTimeoutMillis() > 0, "dice.cluster.weight-fetch-timeout", "> 0",
                trainers.weightFetchTimeout());
        require(waits.minNodes() >= 1, "dice.cluster.min-nodes", ">= 1", waits.minNodes());
        require(waits.queueStoreTimeoutMillis() > 0, "dice.cluster.queue-store-timeout", "> 0",
                waits.queueStoreTimeout());
        require(waits.resultResendAfterMillis() > 0, "dice.cluster.result-resend-after", "> 0",
                waits.resultResendAfter());
        require(journal.kind().equals("h2") || journal.kind().equals("postgres"), "dice.journal.kind",
                "h2 or postgres", journal.kind());
    }

    private static void require(boolean ok, String key, String expected, Object got) {
        if (!ok) {
            throw new BadInputException(key + ": expected " + expected + ", got " + got);
        }
    }
}
