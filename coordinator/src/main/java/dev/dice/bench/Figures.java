package dev.dice.bench;

import java.util.Arrays;

/** How the benchmarks report a figure: three decimals, and the median of timed repeats. */
final class Figures {
    private Figures() {}

    static double round(double x) {
        return Math.round(x * 1000) / 1000.0;
    }

    /** The middle value (of an even count, the upper of the two middle ones). */
    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
