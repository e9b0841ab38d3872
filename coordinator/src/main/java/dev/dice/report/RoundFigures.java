package dev.dice.report;

import dev.dice.algo.AlphaSearch;
import dev.dice.algo.Candidate;
import dev.dice.algo.Pair;
import dev.dice.algo.PairSelection;
import dev.dice.report.RunReport.Figure;
import java.awt.Color;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * A round's figures, recomputed from its scored responses: the chosen and rejected lengths of the pairs at α = 0 and
 * at α*, and the selection's mean length gap over α.
 */
final class RoundFigures {
    private static final Color CHOSEN = new Color(44, 160, 44, 170);
    private static final Color REJECTED = new Color(214, 39, 40, 150);

    private RoundFigures() {}

    /** A round's length histograms before and after α*, and its length-gap curve over α. */
    static List<Figure> of(String prefix, RunReport.Round r) {
        AlphaSearch.Result search = AlphaSearch.search(r.candidates(), r.minValid());
        List<Pair> atZero = PairSelection.select(r.candidates(), 0.0, r.minValid());
        List<Pair> atStar = PairSelection.select(r.candidates(), search.alpha(), r.minValid());
        List<Figure> out = new ArrayList<>();
        int lo = Integer.MAX_VALUE;
        int hi = 0;
        for (Pair p : concat(atZero, atStar)) {
            lo = Math.min(lo, Math.min(p.chosen().length(), p.rejected().length()));
            hi = Math.max(hi, Math.max(p.chosen().length(), p.rejected().length()));
        }
        if (lo > hi) {
            lo = 0;
            hi = 1;
        }
        out.add(histogram(prefix + "hist-" + r.name() + "-alpha0",
                r.name() + ": chosen vs rejected length, before (α = 0)", atZero, lo, hi,
                String.format(Locale.ROOT, "%d pairs; mean chosen − rejected = %.3f tokens.", atZero.size(),
                        PairSelection.meanLengthGap(atZero))));
        out.add(histogram(prefix + "hist-" + r.name() + "-alphastar",
                String.format(Locale.ROOT, "%s: chosen vs rejected length, after α* = %.4g", r.name(), search.alpha()),
                atStar, lo, hi, String.format(Locale.ROOT, "%d pairs; mean chosen − rejected = %.3f tokens%s.",
                        atStar.size(), PairSelection.meanLengthGap(atStar), search.alpha() == 0.0
                                ? " (α* = 0: no length penalty evens the lengths out better, same pairs as α = 0)" : "")));
        out.add(alphaCurve(prefix + "alpha-curve-" + r.name(), r, search));
        return out;
    }

    private static Figure histogram(String id, String title, List<Pair> pairs, int lo, int hi, String caption) {
        int width = Math.max(1, (int) Math.ceil((hi - lo + 1) / 30.0));
        int bins = (hi - lo) / width + 1;
        List<String> labels = new ArrayList<>();
        double[] chosen = new double[bins];
        double[] rejected = new double[bins];
        for (int b = 0; b < bins; b++) {
            int from = lo + b * width;
            labels.add(width == 1 ? Integer.toString(from) : from + "–" + (from + width - 1));
        }
        for (Pair p : pairs) {
            chosen[(p.chosen().length() - lo) / width]++;
            rejected[(p.rejected().length() - lo) / width]++;
        }
        CategoryChart chart = Charts.categoryChart(title, "length (tokens)", "pairs");
        chart.getStyler().setOverlapped(true);
        chart.getStyler().setSeriesColors(new Color[] {CHOSEN, REJECTED});
        chart.getStyler().setXAxisLabelRotation(bins > 20 ? 90 : 0);
        chart.addSeries("chosen", labels, Arrays.stream(chosen).boxed().toList());
        chart.addSeries("rejected", labels, Arrays.stream(rejected).boxed().toList());
        return Charts.figure(id, chart, caption);
    }

    /** Mean chosen − rejected length of the selection at α, over a grid from 0 past the last relevant breakpoint. */
    private static Figure alphaCurve(String id, RunReport.Round r, AlphaSearch.Result search) {
        double max = alphaRange(r, search.alpha());
        int points = 160;
        List<Double> grid = new ArrayList<>();
        for (int i = 0; i <= points; i++) {
            grid.add(max * i / points);
        }
        grid.add(search.alpha());
        if (r.alphaUsed() != null && r.alphaUsed() <= max) {
            grid.add(r.alphaUsed());
        }
        grid.sort(Comparator.naturalOrder());
        double[] x = new double[grid.size()];
        double[] y = new double[grid.size()];
        for (int i = 0; i < grid.size(); i++) {
            x[i] = grid.get(i);
            y[i] = PairSelection.meanLengthGap(PairSelection.select(r.candidates(), x[i], r.minValid()));
        }
        XYChart chart = new XYChartBuilder().width(Charts.WIDTH).height(Charts.HEIGHT)
                .title(r.name() + ": mean length difference vs α")
                .xAxisTitle("α (length penalty per token)").yAxisTitle("mean |chosen| − |rejected| (tokens)").build();
        Charts.style(chart.getStyler());
        chart.getStyler().setxAxisTickLabelsFormattingFunction(v -> String.format(Locale.ROOT, "%.3g", v));
        XYSeries curve = chart.addSeries("mean length gap", x, y);
        curve.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Step);
        curve.setMarker(SeriesMarkers.NONE);
        XYSeries zero = chart.addSeries("gap = 0", new double[] {0, max}, new double[] {0, 0});
        zero.setMarker(SeriesMarkers.NONE);
        zero.setLineColor(Color.GRAY);
        XYSeries star = chart.addSeries(String.format(Locale.ROOT, "α* = %.4g (gap %.3f)", search.alpha(), search.meanGap()),
                new double[] {search.alpha()}, new double[] {search.meanGap()});
        star.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Scatter);
        star.setMarker(SeriesMarkers.DIAMOND);
        star.setMarkerColor(Color.RED);
        String used = "";
        if (r.alphaUsed() != null && Math.abs(r.alphaUsed() - search.alpha()) > 1e-12) {
            used = String.format(Locale.ROOT, " The run used a fixed α = %.4g.", r.alphaUsed());
        }
        return Charts.figure(id, chart, String.format(Locale.ROOT,
                "Recomputed from %s/scored.jsonl: α* = %.4g by the exact breakpoint sweep (%d intervals), gap %.3f at α*"
                        + " and %.3f at α = 0.%s", r.name(), search.alpha(), search.intervals(), search.meanGap(),
                search.meanGapAtZero(), used));
    }

    /** Up to where the selection still changes: the 95th percentile of the within-prompt crossing points. */
    private static double alphaRange(RunReport.Round r, double alphaStar) {
        Map<String, List<Candidate>> byPrompt = new LinkedHashMap<>();
        for (Candidate c : r.candidates()) {
            if (c.valid()) {
                byPrompt.computeIfAbsent(c.promptId(), k -> new ArrayList<>()).add(c);
            }
        }
        List<Double> crossings = new ArrayList<>();
        for (List<Candidate> cs : byPrompt.values()) {
            for (int i = 0; i < cs.size(); i++) {
                for (int j = i + 1; j < cs.size(); j++) {
                    int dl = cs.get(i).length() - cs.get(j).length();
                    double dr = cs.get(i).reward() - cs.get(j).reward();
                    if (dl != 0 && dr / dl > 0 && Double.isFinite(dr / dl)) {
                        crossings.add(dr / dl);
                    }
                }
            }
        }
        crossings.sort(Comparator.naturalOrder());
        double p95 = crossings.isEmpty() ? 0 : crossings.get((int) Math.floor(0.95 * (crossings.size() - 1)));
        double max = Math.max(p95, 2 * alphaStar);
        if (r.alphaUsed() != null) {
            max = Math.max(max, 1.2 * r.alphaUsed());
        }
        return max > 0 ? max : 1.0;
    }

    private static <T> List<T> concat(List<T> a, List<T> b) {
        List<T> out = new ArrayList<>(a);
        out.addAll(b);
        return out;
    }
}
