package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.gpu.LlamaConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** `dice bench round` at small shapes (responses as long as the bench's): every stage runs, and the row adds up. */
class RoundBenchTest {

    @Test
    void oneSmallRoundRunsEveryStage() {
        Map<String, Object> row = new RoundBench(new LlamaConfig(259, 32, 64, 1, 2, 2, 96, 1e-5, 10000.0, true, 256, 257), 32, 16).measure(16, 2);
        assertEquals(32, row.get("responses"));
        assertTrue((int) row.get("train_steps") >= 1, row.toString());
        double parts = 0;
        for (String stage : new String[] {"generate_s", "score_s", "shape_s", "train_s"}) {
            parts += (double) row.get(stage);
        }
        assertEquals((double) row.get("total_s"), parts, 0.01, row.toString());
    }
}
