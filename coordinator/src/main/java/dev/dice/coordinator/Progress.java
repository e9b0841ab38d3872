package dev.dice.coordinator;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Progress of a stage as log lines with rate and ETA, at most one every two seconds plus the last. */
final class Progress {
    private static final Logger log = LoggerFactory.getLogger("dice.progress");

    private final String what;
    private final String unit;
    private final int total;
    private final long start = System.nanoTime();
    private long lastPrint;

    Progress(String what, String unit, int total) {
        this.what = what;
        this.unit = unit;
        this.total = total;
    }

    void advance(int done) {
        advance(done, "");
    }

    void advance(int done, String detail) {
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
