package dev.dice.coordinator;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Progress of a stage (generation, scoring, training): a progress bar with rate and ETA on a terminal, plain log
 * lines (at most one every two seconds, plus the last) when the output is not a terminal, e.g. a CI log.
 */
final class Progress {
    private static final Logger log = LoggerFactory.getLogger("dice.progress");
    private static final boolean TERMINAL = System.console() != null;

    private final String what;
    private final String unit;
    private final int total;
    private final long start = System.nanoTime();
    private final ProgressBar bar;
    private long lastPrint;

    Progress(String what, String unit, int total) {
        this.what = what;
        this.unit = unit;
        this.total = total;
        this.bar = TERMINAL ? new ProgressBarBuilder().setTaskName(what).setInitialMax(total).setUnit(" " + unit, 1)
                .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(500).continuousUpdate().build() : null;
    }

    void advance(int done) {
        advance(done, "");
    }

    void advance(int done, String detail) {
        if (bar != null) {
            bar.stepTo(done);
            bar.setExtraMessage(detail);
            if (done >= total) {
                bar.close();
            }
            return;
        }
        long now = System.nanoTime();
        if (done < total && now - lastPrint < 2_000_000_000L) {
            return;
        }
        lastPrint = now;
        double seconds = (now - start) / 1e9;
        double eta = done == 0 ? Double.NaN : seconds / done * (total - done);
        log.info(String.format("%-10s %s %d/%d  %s  %.0fs elapsed, ETA %.0fs", what, unit, done, total, detail, seconds,
                eta));
    }
}
