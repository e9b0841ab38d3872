package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RunCheckpointsTest {
    private static final Path OUT = Path.of("runs/x");

    @Test
    void checkpointsThatFitAreNotRefused() {
        assertEquals(Optional.empty(), RunCheckpoints.shortage(OUT, 4, 1_000_000, 4_000_000));
        assertEquals(Optional.empty(), RunCheckpoints.shortage(OUT, 0, Long.MAX_VALUE, 0));
    }

    @Test
    void aShortageSaysWhatIsNeededAndWhatIsFree() {
        String line = RunCheckpoints.shortage(OUT, 4, 1_000_001, 4_000_000).orElseThrow();
        assertEquals("dice.out (--out): runs/x: the run will write 4 checkpoint(s) of 1.0 MB (4.0 MB), but its disk"
                + " has 4.0 MB free; free space, choose another --out, or plan fewer rounds (nothing was written)", line);
    }

    @Test
    void anOverflowingPlanIsAShortage() {
        assertTrue(RunCheckpoints.shortage(OUT, 3, Long.MAX_VALUE / 2, Long.MAX_VALUE - 1).isPresent());
    }

    @Test
    void sizesInDecimalUnits() {
        assertEquals("999 bytes", RunCheckpoints.size(999));
        assertEquals("1.5 kB", RunCheckpoints.size(1500));
        assertEquals("55.0 TB", RunCheckpoints.size(55_000_000_000_000L));
    }
}
