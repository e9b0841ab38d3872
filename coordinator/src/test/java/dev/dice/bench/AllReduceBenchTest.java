package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class AllReduceBenchTest {

    /** {wall ns, JIT ms} after each of iterations of 200 ms wall time, the JIT adding {@code jitMillis} to each. */
    private static List<long[]> clocks(int iterations, long... jitMillis) {
        List<long[]> out = new ArrayList<>();
        long jit = 0;
        for (int i = 0; i < iterations; i++) {
            jit += jitMillis[Math.min(i, jitMillis.length - 1)];
            out.add(new long[] {(i + 1) * 200_000_000L, jit});
        }
        return out;
    }

    @Test
    void warmUpGoesOnWhileTheJitTakesMoreThanFivePercentOfTheLastThreeIterations() {
        assertTrue(AllReduceBench.compiling(clocks(3, 0)), "too few iterations to tell");
        assertFalse(AllReduceBench.compiling(clocks(10, 0)), "a quiet JIT");
        assertTrue(AllReduceBench.compiling(clocks(10, 40)), "40 ms of every 200");
        assertFalse(AllReduceBench.compiling(clocks(10, 10)), "10 ms of every 200 is exactly 5 %");
        assertTrue(AllReduceBench.compiling(clocks(10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 31)), "one recent burst");
        assertFalse(AllReduceBench.compiling(clocks(10, 500, 500, 500, 500, 500, 500, 0)), "busy early, quiet since");
    }

    @Test
    void warmUpMovesAtLeast512MiBAndThreeIterations() {
        assertEquals(32, AllReduceBench.warmups(16));
        assertEquals(3, AllReduceBench.warmups(256));
    }
}
