package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.dice.gpu.LlamaConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The memory bench's figures from its trainers' reports: worst ratios over sizes, the slowest rank, plan errors. */
class MemoryFiguresTest {
    private static final MemoryBench.Size A = size("A", 64);
    private static final MemoryBench.Size B = size("B", 128);

    @Test
    void ratiosAreCheckpointedOverPlainAndTheWorstSizeCounts() {
        List<MemoryFigures.Measured> runs = List.of(
                run(A, new MemoryBench.Setting(1, 0, false), report(1000, 900, 400, 600, 1.0)),
                run(A, new MemoryBench.Setting(1, 0, true), report(700, 600, 400, 200, 1.2)),
                run(B, new MemoryBench.Setting(1, 0, false), report(2000, 2100, 800, 1000, 2.0)),
                run(B, new MemoryBench.Setting(1, 0, true), report(1400, 1300, 800, 250, 3.0)));
        Map<String, Object> out = MemoryFigures.summary(runs, 1);
        assertEquals(0.333, out.get("checkpointing_activation_ratio")); // A: 200 / 600; B: 250 / 1000
        assertEquals(1.5, out.get("checkpointing_step_time_ratio")); // B: 3.0 / 2.0
        assertEquals(0.167, out.get("plan_max_error")); // A checkpointed: |700 - 600| / 600
        assertFalse(out.containsKey("zero2_state_ratio_r1"));
    }

    @Test
    void zeroStagesCompareTheirStateWithStageZeroAtTheSameTrainers() {
        List<MemoryFigures.Measured> runs = List.of(
                run(A, new MemoryBench.Setting(4, 0, false), report(1000, 1000, 400, 600, 1.0),
                        report(1000, 1000, 420, 600, 4.0)),
                run(A, new MemoryBench.Setting(4, 2, false), report(800, 800, 100, 600, 1.0),
                        report(800, 800, 105, 600, 1.0)));
        Map<String, Object> out = MemoryFigures.summary(runs, 4);
        assertEquals(0.25, out.get("zero2_state_ratio_r4")); // the largest trainer's: 105 / 420
        assertFalse(out.containsKey("zero2_state_ratio_r4_by_size"), "one size: no breakdown");
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> list = (List<Map<String, Object>>) out.get("runs");
        assertEquals(4.0, list.get(0).get("step_s"), "the slowest rank's step: the ring waits for it");
        assertFalse(out.containsKey("checkpointing_activation_ratio"));
    }

    @Test
    void zeroStateRatioIsTheLargestSizesAndEverySizeIsReported() {
        List<MemoryFigures.Measured> runs = List.of(
                run(A, new MemoryBench.Setting(2, 0, false), report(1000, 1000, 100, 600, 1.0)),
                run(A, new MemoryBench.Setting(2, 2, false), report(800, 800, 40, 600, 1.0)),
                run(B, new MemoryBench.Setting(2, 0, false), report(2000, 2000, 400, 900, 1.0)),
                run(B, new MemoryBench.Setting(2, 2, false), report(1600, 1600, 80, 900, 1.0)));
        Map<String, Object> out = MemoryFigures.summary(runs, 2);
        assertEquals(0.2, out.get("zero2_state_ratio_r2")); // B: 80 / 400
        assertEquals(Map.of("A", 0.4, "B", 0.2), out.get("zero2_state_ratio_r2_by_size"));
    }

    private static MemoryBench.Size size(String name, int hidden) {
        return new MemoryBench.Size(name, new LlamaConfig(256, hidden, 2 * hidden, 2, 4, 1, 512, 1e-5, 500000.0, false,
                1, 2));
    }

    private static MemoryFigures.Measured run(MemoryBench.Size size, MemoryBench.Setting setting,
            MemoryTrainer.Report... reports) {
        return new MemoryFigures.Measured(new MemoryBench.Run(size, setting), List.of(reports));
    }

    /** A trainer's report; every step after the first takes {@code seconds} (the first is not counted). */
    private static MemoryTrainer.Report report(long plannedPeak, long measuredPeak, long state, long activations,
            double seconds) {
        double[] steps = {99, seconds, seconds, seconds};
        return new MemoryTrainer.Report(0, 300, measuredPeak, 100, state, activations, plannedPeak, 100, state,
                activations, steps, steps);
    }
}
