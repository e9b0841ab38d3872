package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class SnapshotBenchTest {
    @Test
    void aModelOfSeveralTensorsArrivesBitExactAndItsCopiesAreFreed() {
        Map<String, Object> r = SnapshotBench.run(200); // three tensors, the last one partial
        assertEquals(true, r.get("bit_exact"), r.toString());
        assertEquals(true, r.get("sha256_matches_tensors"), r.toString());
        assertEquals(200L << 20, r.get("bytes"));
        long peak = (Long) r.get("direct_mb_peak");
        long after = (Long) r.get("direct_mb_after_release");
        assertTrue(peak >= 3 * 200 && after < peak - 3 * 200 + 100, "three copies, then freed: " + r);
    }
}
