package dev.dice.report;

import dev.dice.report.RunReport.Figure;
import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Base64;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.CategorySeries;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** The report's charts: one look for all, rendered to embedded PNGs. */
final class Charts {
    static final int WIDTH = 820;
    static final int HEIGHT = 380;

    private Charts() {}

    static CategoryChart categoryChart(String title, String x, String y) {
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x)
                .yAxisTitle(y).build();
        style(chart.getStyler());
        return chart;
    }

    /** A line chart over stages (missing values are null and not drawn). */
    static CategoryChart stageChart(String title, String y) {
        CategoryChart chart = categoryChart(title, "stage", y);
        chart.getStyler().setDefaultSeriesRenderStyle(CategorySeries.CategorySeriesRenderStyle.Line);
        chart.getStyler().setOverlapped(true);
        return chart;
    }

    static void style(Styler styler) {
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setLegendPosition(Styler.LegendPosition.OutsideE);
        styler.setAntiAlias(true);
        if (styler instanceof org.knowm.xchart.style.AxesChartStyler axes) {
            axes.setPlotGridLinesColor(new Color(225, 225, 225));
        }
    }

    static void line(XYSeries series) {
        series.setMarker(series.getXData().length > 60 ? SeriesMarkers.NONE : SeriesMarkers.CIRCLE);
    }

    static Figure figure(String id, Chart<?, ?> chart, String caption) {
        try {
            byte[] png = BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG);
            return new Figure(id, chart.getTitle(), caption, Base64.getEncoder().encodeToString(png));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot render chart " + id, e);
        }
    }

    /** A figure as HTML: its chart embedded as a PNG, with a title and a caption. */
    static String figure(Figure f) {
        return "<figure id=\"" + RunReport.esc(f.id()) + "\">\n<h2>" + RunReport.esc(f.title()) + "</h2>\n<img data-chart=\"" + RunReport.esc(f.id())
                + "\" alt=\"" + RunReport.esc(f.title()) + "\" title=\"" + RunReport.esc(f.title()) + "\" src=\"data:image/png;base64,"
                + f.png() + "\">\n<figcaption>" + RunReport.esc(f.caption()) + "</figcaption>\n</figure>\n";
    }
}
