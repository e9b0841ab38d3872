package dev.dice.algo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.ToDoubleFunction;

/** Small descriptive statistics used by the round reports. */
public final class Stats {

    private Stats() {}

    public static double mean(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("mean of no values");
        }
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        return sum / values.length;
    }

    /** Sample standard deviation (divides by n − 1, as pandas' std does); 0 for a single value (no spread). */
    public static double sampleStd(double[] values) {
        double mean = mean(values);
        if (values.length == 1) {
            return 0.0;
        }
        double squares = 0;
        for (double v : values) {
            squares += (v - mean) * (v - mean);
        }
        return Math.sqrt(squares / (values.length - 1));
    }

    /** Pearson correlation; NaN when either side has zero variance (the correlation is undefined then). */
    public static double pearson(double[] x, double[] y) {
        if (x.length != y.length) {
            throw new IllegalArgumentException("pearson needs equal lengths, got " + x.length + " and " + y.length);
        }
        double mx = mean(x);
        double my = mean(y);
        double sxy = 0;
        double sxx = 0;
        double syy = 0;
        for (int i = 0; i < x.length; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        if (sxx == 0 || syy == 0) {
            return Double.NaN;
        }
        return sxy / Math.sqrt(sxx * syy);
    }

    /**
     * The mean over groups of the Pearson correlation within each group, e.g. of reward and length within one
     * prompt's candidates (a between-prompt correlation would mostly measure which prompts ask for long answers).
     * Groups with fewer than two items or zero variance on either side are skipped; NaN if no group is left.
     */
    public static <T> double meanWithinGroupCorrelation(List<T> items, Function<T, String> group,
                                                        ToDoubleFunction<T> x, ToDoubleFunction<T> y) {
        Map<String, List<T>> groups = new LinkedHashMap<>();
        for (T item : items) {
            groups.computeIfAbsent(group.apply(item), k -> new ArrayList<>()).add(item);
        }
        double sum = 0;
        int counted = 0;
        for (List<T> members : groups.values()) {
            if (members.size() < 2) {
                continue;
            }
            double[] xs = members.stream().mapToDouble(x).toArray();
            double[] ys = members.stream().mapToDouble(y).toArray();
            double r = pearson(xs, ys);
            if (!Double.isNaN(r)) {
                sum += r;
                counted++;
            }
        }
        return counted == 0 ? Double.NaN : sum / counted;
    }
}
