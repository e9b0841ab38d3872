package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ResponsePackingTest {

    @Test
    void equalLengthsKeepOneResponsePerRow() {
        ResponsePacking p = ResponsePacking.of(new int[] {0, 0, 1, 1}, new int[] {5, 5, 5, 5});
        assertEquals(4, p.rows());
        assertEquals(5, p.width());
        assertArrayEquals(new int[] {0, 1, 2, 3}, p.rowOf());
        assertArrayEquals(new int[] {0, 0, 0, 0}, p.offset());
        assertArrayEquals(new int[] {0, 0, 1, 1}, p.promptOf());
    }

    @Test
    void shortResponsesOfOnePromptShareARowButNeverCrossPrompts() {
        // prompt 0: 8, 3, 5 -> rows [8], [5, 3]; prompt 1: 2, 2 -> [2, 2]
        ResponsePacking p = ResponsePacking.of(new int[] {0, 0, 0, 1, 1}, new int[] {8, 3, 5, 2, 2});
        assertEquals(3, p.rows());
        assertArrayEquals(new int[] {0, 1, 1, 2, 2}, p.rowOf());
        assertArrayEquals(new int[] {0, 5, 0, 0, 2}, p.offset());
        assertArrayEquals(new int[] {0, 0, 1}, p.promptOf());
    }

    @Test
    void segmentsNeverOverlapOrOverflowTheirRow() {
        Random rng = new Random(7);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + rng.nextInt(40);
            int[] group = new int[n];
            int[] lengths = new int[n];
            for (int i = 0; i < n; i++) {
                group[i] = i / (1 + rng.nextInt(8));
                lengths[i] = 1 + rng.nextInt(30);
            }
            ResponsePacking p = ResponsePacking.of(group, lengths);
            int[][] taken = new int[p.rows()][p.width()];
            for (int i = 0; i < n; i++) {
                assertEquals(group[i], p.promptOf()[p.rowOf()[i]]);
                assertTrue(p.offset()[i] + lengths[i] <= p.width());
                for (int j = 0; j < lengths[i]; j++) {
                    assertEquals(0, taken[p.rowOf()[i]][p.offset()[i] + j]++, "overlap");
                }
            }
            assertTrue(p.rows() <= n);
        }
    }
}
