package dev.dice.algo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class StatsTest {

    @Test
    void meanAndSampleStd() {
        double[] values = {2, 4, 4, 4, 5, 5, 7, 9};
        assertEquals(5.0, Stats.mean(values), 1e-15);
        assertEquals(Math.sqrt(32.0 / 7), Stats.sampleStd(values), 1e-12);
        assertEquals(0.0, Stats.sampleStd(new double[] {3}), 0.0);
        assertThrows(IllegalArgumentException.class, () -> Stats.mean(new double[0]));
    }

    @Test
    void pearson() {
        double[] x = {1, 2, 3, 4, 5};
        assertEquals(1.0, Stats.pearson(x, new double[] {3, 5, 7, 9, 11}), 1e-12);
        assertEquals(-1.0, Stats.pearson(x, new double[] {5, 4, 3, 2, 1}), 1e-12);
        // y = (x − 3)²: symmetric, uncorrelated.
        assertEquals(0.0, Stats.pearson(x, new double[] {4, 1, 0, 1, 4}), 1e-12);
        assertEquals(0.8, Stats.pearson(new double[] {1, 2, 3, 4}, new double[] {1, 3, 2, 4}), 1e-12);
        assertTrue(Double.isNaN(Stats.pearson(x, new double[] {2, 2, 2, 2, 2})));
        assertThrows(IllegalArgumentException.class, () -> Stats.pearson(x, new double[] {1}));
    }

    record Item(String group, double x, double y) {}

    @Test
    void meanWithinGroupCorrelationSkipsGroupsWithoutVariance() {
        List<Item> items = List.of(
                new Item("up", 1, 10), new Item("down", 1, 3), new Item("up", 2, 20), new Item("down", 2, 2),
                new Item("down", 3, 1.5), new Item("up", 3, 31),
                new Item("flat", 1, 5), new Item("flat", 2, 5),  // zero variance in y: skipped
                new Item("single", 1, 1));                       // one item: skipped
        double up = Stats.pearson(new double[] {1, 2, 3}, new double[] {10, 20, 31});
        double down = Stats.pearson(new double[] {1, 2, 3}, new double[] {3, 2, 1.5});
        assertEquals((up + down) / 2, Stats.meanWithinGroupCorrelation(items, Item::group, Item::x, Item::y), 1e-12);

        // Between groups x and y are perfectly correlated, within each group perfectly anti-correlated.
        List<Item> simpson = List.of(new Item("a", 1, 2), new Item("a", 2, 1), new Item("b", 11, 12),
                new Item("b", 12, 11));
        assertEquals(-1.0, Stats.meanWithinGroupCorrelation(simpson, Item::group, Item::x, Item::y), 1e-12);

        assertTrue(Double.isNaN(Stats.meanWithinGroupCorrelation(List.of(new Item("s", 1, 1)), Item::group,
                Item::x, Item::y)));
    }
}
