package dev.dice.gpu.collective;

/** Data-parallel replicas no longer hold identical weights: continuing would train different models. */
public final class WeightDivergenceException extends CollectiveException {
    private static final long serialVersionUID = 1L;

    public WeightDivergenceException(String message) {
        super(message);
    }
}
