package dev.dice.coordinator;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.TreeSet;

/**
 * One row of {@code summary.json} (and a stage's {@code stage.json}): how a stage's model does on the held-out
 * prompts, how its training ended, for DICE rounds what the round's selection did, and the cluster's work. A part
 * that does not apply is null (no training when π0 is given, no round facts before the first round); in the file
 * the row is flat and such a part's fields are null. Lengths are in tokens (bytes for the built-in model); the judge
 * sees characters.
 */
public record StageResult(String name, Evaluated evaluation, Trained training, RoundFacts round, double seconds,
        ClusterFacts cluster, Cpu cpu) {

    /**
     * The stage's model on the eval prompts against π0's responses (win rates and quality null without a judge), and
     * the agreement of the implicit reward log π_s − log π_{s−1} with the judge on held-out candidates (null for π0
     * and without a judge).
     */
    public record Evaluated(Double winRate, Double lcWinRate, Double quality, Double meanLength,
            Double rewardAgreement) {
        static Evaluated of(Evaluation.Scores scores, Double rewardAgreement) {
            return new Evaluated(scores.winRate(), scores.lcWinRate(), scores.quality(), scores.meanLength(),
                    rewardAgreement);
        }
    }

    /**
     * The stage's training over its last tenth of steps: loss, and for DPO the reward accuracy and the mean change of
     * the chosen and the rejected responses' log-prob under the trained policy against its frozen reference (reward
     * / β, nats; a negative chosen change is likelihood displacement). The DPO fields are null for SFT.
     */
    public record Trained(Double finalLoss, Double finalRewardAccuracy, Double dpoDeltaLogpChosen,
            Double dpoDeltaLogpRejected) {}

    /**
     * What the stage's jobs did across the cluster: prompts handed to generators and those whose every sample came
     * back (each counted once, however often its shard was sent), result copies dropped as duplicates (a shard
     * re-sent after a worker or the coordinator died), results rejected as stale (another policy version, or a job
     * that was over), pairs of a round that share a prompt with an earlier pair of the round (0 when no result was
     * counted twice); the nodes ({@code host:port}) whose trainers trained, the times a training ring that lost a
     * trainer was re-formed, and the optimizer steps trained again after going back to a sync point.
     */
    public record ClusterFacts(int promptsDispatched, int promptsCompleted, int duplicateResultsDropped,
            int staleResultsRejected, int duplicatesInPairs, List<String> trainerNodes, int ringReforms,
            int trainStepsReplayed) {
        static final ClusterFacts NONE = new ClusterFacts(0, 0, 0, 0, 0, List.of(), 0, 0);

        public ClusterFacts {
            trainerNodes = trainerNodes == null ? List.of() : List.copyOf(trainerNodes); // absent from a stage.json: none
        }

        ClusterFacts plus(ShardJob.Facts job) {
            return add(new ClusterFacts(job.promptsDispatched(), job.promptsCompleted(), job.duplicatesDropped(),
                    job.staleRejected(), 0, List.of(), 0, 0));
        }

        ClusterFacts plus(TrainingJob.Done training) {
            return add(new ClusterFacts(0, 0, 0, 0, 0, List.copyOf(training.trainerNodes()), training.rings() - 1,
                    training.stepsReplayed()));
        }

        ClusterFacts add(ClusterFacts o) {
            TreeSet<String> nodes = new TreeSet<>(trainerNodes);
            nodes.addAll(o.trainerNodes);
            return new ClusterFacts(promptsDispatched + o.promptsDispatched, promptsCompleted + o.promptsCompleted,
                    duplicateResultsDropped + o.duplicateResultsDropped, staleResultsRejected + o.staleResultsRejected,
                    duplicatesInPairs + o.duplicatesInPairs, List.copyOf(nodes), ringReforms + o.ringReforms,
                    trainStepsReplayed + o.trainStepsReplayed);
        }

        ClusterFacts plusStale(int stale) {
            return add(new ClusterFacts(0, 0, 0, stale, 0, List.of(), 0, 0));
        }

        ClusterFacts plusDuplicatesInPairs(int duplicates) {
            return add(new ClusterFacts(0, 0, 0, 0, duplicates, List.of(), 0, 0));
        }
    }

    /**
     * The CPU the coordinator's JVM spent from the stage's start to its row: CPU seconds, and those / wall seconds /
     * cores (1: every core busy throughout). In a single-process run that is all the run's work; on a cluster, the
     * coordinator's node only. Null when not measured (a row written before it was).
     */
    public record Cpu(Double cpuSeconds, Double cpuUtilization) {
        static Cpu of(CpuClock.Use use) {
            return new Cpu(use.cpuSeconds(), use.utilization());
        }
    }

    /** An evaluation-only row, before training, round, cluster and CPU facts are known. */
    static StageResult evaluated(String name, Evaluated evaluation, double seconds) {
        return new StageResult(name, evaluation, null, null, seconds, null, null);
    }

    StageResult withTraining(Trained trained) {
        return new StageResult(name, evaluation, trained, round, seconds, cluster, cpu);
    }

    StageResult withRound(RoundFacts facts) {
        return new StageResult(name, evaluation, training, facts, seconds, cluster, cpu);
    }

    StageResult withCluster(ClusterFacts facts) {
        return new StageResult(name, evaluation, training, round, seconds, facts, cpu);
    }

    StageResult withCpu(Cpu used) {
        return new StageResult(name, evaluation, training, round, seconds, cluster, used);
    }

    /** A number of the row by its field name in {@code summary.json} ({@code lc_win_rate}, {@code alpha}), or null. */
    public Double number(String field) {
        JsonNode value = row().get(field);
        if (value == null) {
            throw new IllegalArgumentException("summary.json rows have no field " + field);
        }
        return value.isNull() ? null : value.asDouble();
    }

    // ---- the row as summary.json holds it -------------------------------------------------------------------

    /** The row's fields in file order; the parts' fields are spread between the evaluation's. */
    private static final List<String> FIELDS = List.of("name", "win_rate", "lc_win_rate", "quality", "mean_length",
            "alpha", "reward_agreement", "pair_accuracy", "pair_worse", "pair_tied", "mean_length_gap_at_alpha",
            "mean_length_gap_at_zero", "reward_corr_quality", "reward_corr_ref_logp", "valid_fraction",
            "generated_pairs", "offline_pairs", "final_loss", "final_reward_accuracy", "dpo_delta_logp_chosen",
            "dpo_delta_logp_rejected", "kl_to_previous", "sample_quality", "chosen_quality", "rejected_quality",
            "seconds", "cpu_seconds", "cpu_utilization", "cluster");

    @JsonValue
    ObjectNode row() {
        ObjectNode fields = Jsonl.JSON.createObjectNode();
        fields.put("name", name);
        spread(fields, evaluation, Evaluated.class);
        spread(fields, training, Trained.class);
        spread(fields, round == null ? null : round.selection(), RoundFacts.Selection.class);
        spread(fields, round == null ? null : round.reward(), RoundFacts.Reward.class);
        spread(fields, round == null ? null : round.judged(), RoundFacts.Judged.class);
        fields.put("seconds", seconds);
        spread(fields, cpu, Cpu.class);
        fields.set("cluster", Jsonl.JSON.valueToTree(cluster));
        ObjectNode row = Jsonl.JSON.createObjectNode();
        for (String field : FIELDS) {
            row.set(field, fields.remove(field));
        }
        if (!fields.isEmpty()) {
            throw new IllegalStateException("fields of no place in a summary row: " + fields.fieldNames().next());
        }
        return row;
    }

    @JsonCreator(mode = JsonCreator.Mode.DELEGATING)
    static StageResult fromRow(ObjectNode row) {
        RoundFacts.Selection selection = part(row, RoundFacts.Selection.class);
        RoundFacts round = selection == null ? null : new RoundFacts(selection, part(row, RoundFacts.Reward.class),
                part(row, RoundFacts.Judged.class));
        ClusterFacts cluster = row.path("cluster").isObject() ? read(row.get("cluster"), ClusterFacts.class) : null;
        return new StageResult(row.get("name").asText(), read(row, Evaluated.class), part(row, Trained.class), round,
                row.get("seconds").asDouble(), cluster, part(row, Cpu.class));
    }

    /** A part's fields into the flat row: nulls when the part does not apply. */
    private static void spread(ObjectNode row, Record part, Class<? extends Record> type) {
        if (part != null) {
            row.setAll((ObjectNode) Jsonl.JSON.valueToTree(part));
            return;
        }
        for (var component : type.getRecordComponents()) {
            row.putNull(snakeCase(component.getName()));
        }
    }

    /** A part read from the flat row, or null when every one of its fields is null there. */
    private static <T extends Record> T part(ObjectNode row, Class<T> type) {
        for (var component : type.getRecordComponents()) {
            JsonNode value = row.get(snakeCase(component.getName()));
            if (value != null && !value.isNull()) {
                return read(row, type);
            }
        }
        return null;
    }

    private static <T> T read(JsonNode node, Class<T> type) {
        try {
            return Jsonl.JSON.readerFor(type).without(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).readValue(node);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String snakeCase(String name) {
        return name.replaceAll("([A-Z])", "_$1").toLowerCase(java.util.Locale.ROOT);
    }
}
