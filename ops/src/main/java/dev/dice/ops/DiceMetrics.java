package dev.dice.ops;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Info;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.InfoSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import io.prometheus.metrics.model.snapshots.SummarySnapshot;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The Prometheus metrics of one DICE node (one JVM): a single registry holding the DICE metrics below and the JVM
 * metrics, exposed over HTTP on 127.0.0.1 (by default) when a port is given, and written to a file in the text
 * exposition format at the end of a run.
 *
 * <p>Every DICE metric carries the constant labels {@code node} (this JVM: {@code dice.metrics.node}, named by
 * {@link #name(String)} before first use, else the host name) and {@code role} (the cluster role whose work it measures: coordinator, generator, scorer, shaper,
 * replay, trainer); the Grafana dashboard filters on both. Names follow the Prometheus conventions: base units,
 * counters end in {@code _total}, durations in {@code _seconds}, sizes in {@code _bytes}; lengths are counted in
 * tokens (bytes for the built-in model) and say so in the name.
 *
 * <p>Thread safety: every metric is safe to update from any thread; updates are lock-free and cheap.
 */
public final class DiceMetrics {

    /** The roles of a DICE node; a one-node run has all of them. */
    public static final List<String> ROLES = List.of("coordinator", "generator", "scorer", "shaper", "replay", "trainer");

    private static final Object LOCK = new Object();
    private static volatile DiceMetrics instance;

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final String node;
    private HTTPServer server;

    // ---- run state (coordinator) ----
    /** 1 for the stage now running, 0 for stages that ran before in this JVM. */
    public final Gauge stageActive;
    /** The DICE round now running (1-based); 0 during SFT and DPO on D_off. */
    public final Gauge round;
    public final Counter stagesCompleted;
    public final Gauge stageDuration;
    public final Gauge evalWinRate;
    public final Gauge evalLcWinRate;
    public final Gauge evalQuality;
    public final Gauge evalMeanLength;
    public final Info nodeRole;
    /** Nodes refused when they tried to join: of another run or another DICE version. */
    public final Counter nodesRefused;

    // ---- work distribution (coordinator, generator, scorer) ----
    public final Counter promptsDispatched;
    /** Shard results a shard job found in the journal when it started again (after a coordinator failover). */
    public final Counter resultsRecovered;
    public final Counter promptsCompleted;
    /** Prompts whose shard was lost with a node and not re-served; stays 0 on a one-node runtime. */
    public final Counter promptsLost;
    public final Counter shardsCompleted;
    public final Gauge jobProgress;
    public final Counter generatedTokens;
    public final Counter generatedResponses;
    public final Counter scoredSequences;

    // ---- reward shaping (shaper) ----
    public final Gauge alpha;
    public final Gauge chosenLength;
    public final Gauge rejectedLength;
    public final Gauge lengthGap;
    public final Gauge pairRewardMargin;
    public final Gauge pairs;
    public final Gauge validRatio;

    // ---- replay buffer (replay) ----
    public final Gauge replayPairs;
    public final Gauge replayRoundPairs;

    // ---- training (trainer) ----
    public final Counter trainSteps;
    public final Gauge trainStep;
    public final Gauge trainLoss;
    public final Gauge trainRewardAccuracy;
    public final Gauge trainRewardMargin;
    public final Gauge trainChosenReward;
    public final Gauge trainRejectedReward;
    public final Gauge trainLearningRate;

    // ---- collectives (trainer, generator) ----
    // Weight sync: generators and scorers fetch each trained model through the trainer's relay (WeightPublisher /
    // WeightRelay) and report the version they hold. All-reduce: every data-parallel trainer of the node records
    // each gradient bucket it all-reduces (a trainer alone in its ring moves nothing and records nothing).
    public final Counter allReduceBytes;
    public final Counter allReduceSeconds;
    public final Counter allReduceOperations;
    public final Counter weightSyncSeconds;
    public final Counter weightSyncs;
    public final Gauge weightVersion;

    private DiceMetrics(String node) {
        this.node = node;
        String c = "coordinator";
        stageActive = gauge(c, "dice_stage_active", "1 while the stage runs, 0 after it finished", "stage");
        round = gauge(c, "dice_round", "The DICE round now running (0 during SFT and DPO on D_off)");
        stagesCompleted = counter(c, "dice_stages_completed_total", "Stages finished by this node");
        stageDuration = gauge(c, "dice_stage_duration_seconds", "Wall time of a finished stage (training and evaluation)", "stage");
        evalWinRate = gauge(c, "dice_eval_win_rate", "Judge win rate of the stage's model against the fixed baseline", "stage");
        evalLcWinRate = gauge(c, "dice_eval_lc_win_rate", "Length-controlled win rate (AlpacaEval 2 GLM) against the baseline", "stage");
        evalQuality = gauge(c, "dice_eval_quality", "Mean true quality of the stage's eval responses", "stage");
        evalMeanLength = gauge(c, "dice_eval_response_length_tokens", "Mean eval response length", "stage");
        // Info metric: exposed as dice_node_role_info{node, role} 1.
        nodeRole = Info.builder().name("dice_node_role").help("The roles this node serves (value 1)")
                .labelNames("node", "role").register(registry);
        for (String r : ROLES) {
            nodeRole.addLabelValues(node, r);
        }
        // Any member may answer a join, whatever its roles: the count is the node's, not a role's.
        nodesRefused = Counter.builder().name("dice_nodes_refused_total").help("Nodes this node refused when they tried"
                + " to join its cluster: another run (dice.run-id) or another DICE version (dice.version)")
                .constLabels(Labels.of("node", node)).register(registry);

        promptsDispatched = counter(c, "dice_prompts_dispatched_total", "Prompts handed to generators", "job");
        promptsCompleted = counter(c, "dice_prompts_completed_total", "Prompts whose K responses came back", "job");
        promptsLost = counter(c, "dice_prompts_lost_total", "Prompts lost with a node and not re-served (0 on one node)", "job");
        resultsRecovered = counter(c, "dice_results_recovered_total", "Shard results a shard job found in the journal"
                + " when it started again: persisted before a coordinator failover or a restart");
        shardsCompleted = counter(c, "dice_shards_completed_total", "Shards finished by a job (generated, or scored when the job scores)", "job");
        jobProgress = gauge(c, "dice_job_progress_ratio", "Share of the running job's shards that are finished", "job");
        generatedTokens = counter("generator", "dice_generated_tokens_total", "Response tokens sampled", "job");
        generatedResponses = counter("generator", "dice_generated_responses_total", "Responses sampled", "job");
        scoredSequences = counter("scorer", "dice_scored_sequences_total",
                "Responses scored (each under the policy and the reference)", "job");

        String s = "shaper";
        alpha = gauge(s, "dice_alpha", "The round's length penalty α (α* when searched)", "round");
        chosenLength = gauge(s, "dice_pair_chosen_length_tokens", "Mean length of the chosen responses of the round's pairs", "round");
        rejectedLength = gauge(s, "dice_pair_rejected_length_tokens", "Mean length of the rejected responses of the round's pairs", "round");
        lengthGap = gauge(s, "dice_pair_length_gap_tokens", "Mean chosen − rejected length, at the round's α and at α = 0",
                "round", "alpha");
        pairRewardMargin = gauge(s, "dice_pair_reward_margin",
                "Mean implicit-reward margin r(chosen) − r(rejected), r = log π_t − log π_{t−1} (unscaled by β)", "round");
        pairs = gauge(s, "dice_pairs", "Generated preference pairs of the round", "round");
        validRatio = gauge(s, "dice_candidates_valid_ratio", "Share of the round's sampled responses that are valid", "round");

        replayPairs = gauge("replay", "dice_replay_buffer_pairs", "Preference pairs held by the replay buffer (all rounds)");
        replayRoundPairs = gauge("replay", "dice_replay_round_pairs", "Pairs stored for the round (generated + replayed offline)", "round");

        String t = "trainer";
        trainSteps = counter(t, "dice_train_steps_total", "Optimizer steps", "stage");
        trainStep = gauge(t, "dice_train_step", "Last optimizer step of the stage", "stage");
        trainLoss = gauge(t, "dice_train_loss", "Training loss of the last step (SFT NLL or DPO sigmoid loss)", "stage");
        trainRewardAccuracy = gauge(t, "dice_train_reward_accuracy", "Share of the batch's pairs whose implicit reward ranks chosen first", "stage");
        trainRewardMargin = gauge(t, "dice_train_reward_margin", "Mean β-scaled implicit-reward margin of the batch", "stage");
        trainChosenReward = gauge(t, "dice_train_chosen_reward", "Mean β-scaled implicit reward of the chosen responses", "stage");
        trainRejectedReward = gauge(t, "dice_train_rejected_reward", "Mean β-scaled implicit reward of the rejected responses", "stage");
        trainLearningRate = gauge(t, "dice_train_learning_rate", "Learning rate of the last step", "stage");

        allReduceBytes = counter(t, "dice_allreduce_bytes_total", "Gradient payload bytes this node's trainers sent to"
                + " their ring neighbours: per trainer 2(R-1)/R of the gradient per step (R ranks; half with fp16"
                + " gradients; framing not counted); 0 with one trainer");
        allReduceSeconds = counter(t, "dice_allreduce_seconds_total", "Wall time this node's trainers spent in gradient"
                + " all-reduces (waiting for slower ranks included); 0 with one trainer");
        allReduceOperations = counter(t, "dice_allreduce_operations_total", "Gradient bucket all-reduces by this node's"
                + " trainers (buckets per step x steps, per trainer); 0 with one trainer");
        weightSyncSeconds = counter("generator", "dice_weight_sync_seconds_total", "Time spent fetching and installing weight snapshots from a trainer");
        weightSyncs = counter("generator", "dice_weight_syncs_total", "Weight snapshots fetched from a trainer and installed");
        weightVersion = gauge("generator", "dice_weight_version", "Model version a generator or scorer of this node switched to last");

        JvmMetrics.builder().constLabels(Labels.of("node", node)).register(registry);
    }

    /**
     * Names this JVM's metrics before their first use: every metric's {@code node} label is {@code node}, or the host
     * name when blank. One registry per process, so its labels are fixed once created: a JVM that already holds metrics
     * under another name refuses the new one.
     */
    public static DiceMetrics name(String node) {
        String wanted = node == null || node.isBlank() ? hostName() : node;
        synchronized (LOCK) {
            if (instance == null) {
                instance = new DiceMetrics(wanted);
            } else if (!instance.node.equals(wanted)) {
                throw new IllegalStateException("dice.metrics.node: this JVM's metrics are labelled node=\""
                        + instance.node + "\" already; one process holds one registry, so it cannot become \"" + wanted
                        + "\"");
            }
            return instance;
        }
    }

    /** The node's metrics (created on first use, labelled with the host name unless {@link #name} came first). */
    public static DiceMetrics get() {
        DiceMetrics m = instance;
        if (m == null) {
            synchronized (LOCK) {
                if (instance == null) {
                    instance = new DiceMetrics(hostName());
                }
                m = instance;
            }
        }
        return m;
    }

    public PrometheusRegistry registry() {
        return registry;
    }

    public String node() {
        return node;
    }

    /**
     * Starts the HTTP exporter ({@code /metrics}) on {@code host:port} unless one runs already; returns the port it
     * listens on (useful with port 0). {@code host} null means 127.0.0.1: metrics are not published beyond this
     * machine unless asked for.
     */
    public int startServer(String host, int port) throws IOException {
        synchronized (LOCK) {
            if (server == null) {
                server = HTTPServer.builder().registry(registry)
                        .inetAddress(InetAddress.getByName(host == null || host.isBlank() ? "127.0.0.1" : host))
                        .port(port).buildAndStart();
            }
            return server.getPort();
        }
    }

    /** The exporter's port, or -1 when none runs. */
    public int serverPort() {
        synchronized (LOCK) {
            return server == null ? -1 : server.getPort();
        }
    }

    public void stopServer() {
        synchronized (LOCK) {
            if (server != null) {
                server.stop();
                server = null;
            }
        }
    }

    /** Every metric in the text exposition format (what {@code /metrics} serves). */
    public void writeText(OutputStream out) throws IOException {
        PrometheusTextFormatWriter.create().write(out, registry.scrape());
    }

    /** Writes the current values to {@code file} (text exposition format), atomically. */
    public void writeTo(Path file) {
        try {
            Path dir = file.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path tmp = dir.resolve(file.getFileName() + ".tmp");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                writeText(out);
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** The names of the sample series this registry exposes now (e.g. {@code dice_train_loss}, {@code x_total}). */
    public Set<String> exposedNames() {
        Set<String> names = new TreeSet<>();
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            writeText(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (String line : out.toString(java.nio.charset.StandardCharsets.UTF_8).split("\n")) {
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int end = 0;
            while (end < line.length() && line.charAt(end) != '{' && line.charAt(end) != ' ') {
                end++;
            }
            names.add(line.substring(0, end));
        }
        return names;
    }

    /**
     * The sample names of every registered metric, whether or not it has a sample yet (a labelled metric has none
     * until its first label values are set): counters as {@code name_total}, info as {@code name_info}, summaries and
     * histograms with their {@code _sum}/{@code _count}/{@code _bucket} series.
     */
    public Set<String> registeredNames() {
        Set<String> names = new TreeSet<>();
        for (MetricSnapshot snapshot : registry.scrape()) {
            String name = snapshot.getMetadata().getPrometheusName();
            if (snapshot instanceof CounterSnapshot) {
                names.add(name + "_total");
            } else if (snapshot instanceof InfoSnapshot) {
                names.add(name + "_info");
            } else if (snapshot instanceof SummarySnapshot) {
                names.addAll(List.of(name, name + "_sum", name + "_count"));
            } else if (snapshot instanceof HistogramSnapshot) {
                names.addAll(List.of(name + "_bucket", name + "_sum", name + "_count"));
            } else {
                names.add(name);
            }
        }
        return names;
    }

    // ---- collectives ----

    /** One gradient bucket all-reduced: this trainer sent {@code bytes} payload bytes, in {@code seconds}. */
    public void recordAllReduce(long bytes, double seconds) {
        allReduceBytes.inc(bytes);
        allReduceSeconds.inc(seconds);
        allReduceOperations.inc();
    }

    /** A weight snapshot of {@code version} was fetched and installed in {@code seconds}. */
    public void recordWeightSync(long version, double seconds) {
        weightSyncSeconds.inc(seconds);
        weightSyncs.inc();
        weightVersion.set(version);
    }

    private Counter counter(String role, String name, String help, String... labels) {
        return Counter.builder().name(name).help(help).constLabels(Labels.of("node", node, "role", role))
                .labelNames(labels).register(registry);
    }

    private Gauge gauge(String role, String name, String help, String... labels) {
        return Gauge.builder().name(name).help(help).constLabels(Labels.of("node", node, "role", role))
                .labelNames(labels).register(registry);
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }
}
