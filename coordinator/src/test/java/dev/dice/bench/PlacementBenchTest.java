package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.gpu.LlamaConfig;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * `dice bench round` at small shapes: every placement runs the round's stages, samples the same responses, and
 * reports a CPU utilisation that is a share of the machine's cores.
 */
class PlacementBenchTest {

    @Test
    void placementsSampleTheSameRoundAndReportTheirCpu() {
        PlacementBench bench = new PlacementBench(new LlamaConfig(259, 32, 64, 1, 2, 2, 96, 1e-5, 10000.0, true, 256,
                257), new PlacementBench.Shape(24, 2, 8, 8, 16));
        Map<String, Object> result = bench.run(List.of(new PlacementBench.Placement(1, 0, 1),
                new PlacementBench.Placement(2, 1, 2)), 1);
        assertEquals(true, result.get("same_responses"), result.toString());
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> rows = (List<Map<String, Object>>) result.get("placements");
        assertEquals("2x1:2", rows.get(1).get("placement"));
        assertTrue((int) rows.get(1).get("train_pairs") > 0, "the ring of two trained: " + rows.get(1));
        for (Map<String, Object> row : rows) {
            double utilization = (double) row.get("cpu_utilization");
            // A share of the cores, give or take the CPU clock's granularity over a round of a few tens of milliseconds
            // (up to 1.14 seen); a figure not divided by the cores would be about twice that.
            assertTrue(utilization > 0 && utilization <= 1.5, row.toString());
            assertTrue((double) row.get("round_s") > 0, row.toString());
        }
        assertEquals(rows.get(0).get("cpu_utilization"), result.get("cpu_utilization"));
    }

    @Test
    void aPlacementIsWorkersByThreadsAndTrainers() {
        assertEquals(new PlacementBench.Placement(2, 1, 3), PlacementBench.Placement.parse("2x1", 3));
        assertEquals(new PlacementBench.Placement(2, 2, 1), PlacementBench.Placement.parse("2x2:1", 3));
        for (String wrong : new String[] {"two", "2x1:", "2x1:0", "2x1:1:1", "0x1"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> PlacementBench.Placement.parse(wrong, 1), wrong);
            assertTrue(e.getMessage().startsWith("--placements: expected WORKERSxTHREADS[:TRAINERS]")
                    || e.getMessage().startsWith("a placement needs"), e.getMessage());
        }
    }
}
