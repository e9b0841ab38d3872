package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A summary row reads into its parts and writes back as it was: the same fields, values and order. */
class StageResultTest {
    private static final String SFT = """
            {"name": "sft", "win_rate": 0.46109944686092813, "lc_win_rate": 0.46751219547202505, "quality": 0.18525350517538017,
             "mean_length": 16.421875, "alpha": null, "reward_agreement": null, "pair_accuracy": null, "pair_worse": null,
             "pair_tied": null, "mean_length_gap_at_alpha": null, "mean_length_gap_at_zero": null, "reward_corr_quality": null,
             "reward_corr_ref_logp": null, "valid_fraction": null, "generated_pairs": null, "offline_pairs": null,
             "final_loss": 1.303999920686086, "final_reward_accuracy": null, "dpo_delta_logp_chosen": null,
             "dpo_delta_logp_rejected": null, "kl_to_previous": null, "sample_quality": null, "chosen_quality": null,
             "rejected_quality": null, "seconds": 14.042883716, "cpu_seconds": 25.3, "cpu_utilization": 0.9,
             "cluster": {"prompts_dispatched": 128, "prompts_completed": 128,
             "duplicate_results_dropped": 0, "stale_results_rejected": 0, "duplicates_in_pairs": 0,
             "trainer_nodes": ["127.0.0.1:2551", "127.0.0.1:2552"], "ring_reforms": 0, "train_steps_replayed": 0}}""";
    private static final String ROUND = """
            {"name": "round1", "win_rate": 0.4169097742696172, "lc_win_rate": 0.42193625884601677, "quality": 0.13971423541736042,
             "mean_length": 16.671875, "alpha": 0.009694329897562663, "reward_agreement": 0.5752688172043011,
             "pair_accuracy": 0.2391304347826087, "pair_worse": 0.30434782608695654, "pair_tied": 0.45652173913043476,
             "mean_length_gap_at_alpha": 0.10869565217391304, "mean_length_gap_at_zero": 2.760869565217391,
             "reward_corr_quality": -0.14483063683776454, "reward_corr_ref_logp": -0.2839060809446955,
             "valid_fraction": 0.8020833333333334, "generated_pairs": 46, "offline_pairs": 46,
             "final_loss": 0.6926064491271973, "final_reward_accuracy": 0.875, "dpo_delta_logp_chosen": 0.005774080636911094,
             "dpo_delta_logp_rejected": -0.0050469639245420694, "kl_to_previous": -0.005169174887917258,
             "sample_quality": 0.17339129972819814, "chosen_quality": 0.1807032942902508, "rejected_quality": 0.17872654129047993,
             "seconds": 2.52964084, "cpu_seconds": null, "cpu_utilization": null, "cluster": {"prompts_dispatched": 112, "prompts_completed": 112,
             "duplicate_results_dropped": 0, "stale_results_rejected": 0, "duplicates_in_pairs": 0,
             "trainer_nodes": ["127.0.0.1:2552"], "ring_reforms": 1, "train_steps_replayed": 2}}""";

    @Test
    void aRowWritesBackAsItWasRead() throws Exception {
        for (String text : List.of(SFT, ROUND)) {
            JsonNode row = Jsonl.JSON.readTree(text);
            JsonNode again = Jsonl.JSON.readTree(Jsonl.JSON.writeValueAsString(Jsonl.JSON.treeToValue(row,
                    StageResult.class)));
            assertEquals(row, again);
            assertEquals(fieldNames(row), fieldNames(again));
        }
    }

    @Test
    void aRowWithoutTrainerFactsReadsAsNoTrainerNodes() throws Exception {
        JsonNode row = Jsonl.JSON.readTree(SFT);
        ((com.fasterxml.jackson.databind.node.ObjectNode) row.get("cluster")).remove(List.of("trainer_nodes",
                "ring_reforms", "train_steps_replayed"));
        StageResult.ClusterFacts facts = Jsonl.JSON.treeToValue(row, StageResult.class).cluster();
        assertEquals(128, facts.promptsDispatched());
        assertEquals(List.of(), facts.trainerNodes());
        assertEquals(0, facts.ringReforms());
    }

    @Test
    void partsThatDoNotApplyAreNull() throws Exception {
        StageResult sft = Jsonl.JSON.readValue(SFT, StageResult.class);
        assertNull(sft.round());
        assertEquals(new StageResult.Trained(1.303999920686086, null, null, null), sft.training());
        assertNull(sft.number("alpha"));
        assertEquals(new StageResult.Cpu(25.3, 0.9), sft.cpu());
        StageResult round = Jsonl.JSON.readValue(ROUND, StageResult.class);
        assertEquals(46, round.round().selection().generatedPairs());
        assertEquals(-0.005169174887917258, round.round().reward().klToPrevious());
        assertNotNull(round.round().judged());
        assertEquals(0.009694329897562663, round.number("alpha"));
        assertNull(round.cpu(), "a row written before the CPU was measured");
    }

    /** A re-run with fewer rounds rewrites summary.json with its own stages and keeps the rows of the others. */
    @Test
    void aSummaryKeepsTheRowsOfStagesNotRunAgain(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        StageResult sft = Jsonl.JSON.readValue(SFT, StageResult.class);
        StageResult round = Jsonl.JSON.readValue(ROUND, StageResult.class);
        java.nio.file.Path file = dir.resolve("summary.json");
        assertEquals(List.of(sft), Summary.withEarlierRows(file, List.of(sft)));
        Jsonl.writeJson(file, java.util.Map.of("stages", List.of(sft, round)));
        List<StageResult> rows = Summary.withEarlierRows(file, List.of(sft));
        assertEquals(List.of("sft", "round1"), rows.stream().map(StageResult::name).toList());
        assertEquals(round.number("alpha"), rows.get(1).number("alpha"));
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
