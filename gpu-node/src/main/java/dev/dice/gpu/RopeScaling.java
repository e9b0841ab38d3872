package dev.dice.gpu;

/**
 * config.json's rope_scaling, for the two types Llama releases use: {@code linear} divides every rotary frequency by
 * {@code factor}; {@code llama3} (Llama 3.1 and 3.2) divides only the low frequencies, leaves the high ones and blends
 * between them, as transformers' {@code _compute_llama3_parameters} does.
 */
public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
        int originalMaxPositionEmbeddings) {

    public static final String LINEAR = "linear";
    public static final String LLAMA3 = "llama3";

    /** The frequencies θ^(−2i/D), i < D/2, of one head of {@code headDim}, scaled as {@code scaling} says (null: not). */
    public static double[] inverseFrequencies(double theta, int headDim, RopeScaling scaling) {
        double[] inv = new double[headDim / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = 1.0 / Math.pow(theta, (2.0 * i) / headDim);
            if (scaling != null) {
                inv[i] = scaling.scale(inv[i]);
            }
        }
        return inv;
    }

    double scale(double invFreq) {
        if (type.equals(LINEAR)) {
            return invFreq / factor;
        }
        double wavelength = 2 * Math.PI / invFreq;
        double lowFreqWavelength = originalMaxPositionEmbeddings / lowFreqFactor;
        double highFreqWavelength = originalMaxPositionEmbeddings / highFreqFactor;
        if (wavelength < highFreqWavelength) {
            return invFreq;
        }
        if (wavelength > lowFreqWavelength) {
            return invFreq / factor;
        }
        double smooth = (originalMaxPositionEmbeddings / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * invFreq / factor + smooth * invFreq;
    }
}
