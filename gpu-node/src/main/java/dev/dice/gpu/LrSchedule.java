package dev.dice.gpu;

/** Linear warm-up to the peak rate, then constant or a cosine decay to {@code minRatio}·peak at the end. */
public record LrSchedule(double peak, int warmupSteps, int totalSteps, boolean cosine, double minRatio) {

    public static LrSchedule constant(double peak, int warmupSteps) {
        return new LrSchedule(peak, warmupSteps, Integer.MAX_VALUE, false, 1.0);
    }

    public static LrSchedule cosine(double peak, int warmupSteps, int totalSteps, double minRatio) {
        return new LrSchedule(peak, warmupSteps, totalSteps, true, minRatio);
    }

    /** The rate for step {@code step} (0-based). */
    public double at(int step) {
        if (step < warmupSteps) {
            return peak * (step + 1) / warmupSteps;
        }
        if (!cosine) {
            return peak;
        }
        double progress = Math.min(1.0, (step - warmupSteps) / (double) Math.max(1, totalSteps - warmupSteps));
        double min = peak * minRatio;
        return min + (peak - min) * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
}
