package dev.dice.coordinator;

/**
 * What a DICE round's selection did, measured before its DPO update: the selection itself, the implicit reward beside
 * the reference, and the hidden judge's view of the round's samples and pairs (null without a judge).
 */
public record RoundFacts(Selection selection, Reward reward, Judged judged) {

    /**
     * The length penalty α*, the mean length gap chosen − rejected of the selected pairs at α* and at α = 0, the
     * fraction of valid samples, and the pairs the round trained on after the replay mix: generated and offline.
     */
    public record Selection(double alpha, double meanLengthGapAtAlpha, double meanLengthGapAtZero,
            double validFraction, int generatedPairs, int offlinePairs) {
        Selection withCounts(int generated, int offline) {
            return new Selection(alpha, meanLengthGapAtAlpha, meanLengthGapAtZero, validFraction, generated, offline);
        }
    }

    /**
     * The implicit reward's mean within-prompt correlation with log π_{t−1}, and the mean of
     * log π_t(y) − log π_{t−1}(y) over π_t's own valid samples: a Monte-Carlo estimate of KL(π_t ‖ π_{t−1}) per
     * response (nats), how far the round's generator has moved from its predecessor (null without valid samples).
     */
    public record Reward(double rewardCorrRefLogp, Double klToPrevious) {}

    /**
     * Fractions of the selected pairs whose chosen response is better, worse and as good under the true quality; the
     * implicit reward's mean within-prompt correlation with the true quality; mean true quality of all valid samples,
     * of the chosen and of the rejected responses.
     */
    public record Judged(double pairAccuracy, double pairWorse, double pairTied, double rewardCorrQuality,
            double sampleQuality, double chosenQuality, double rejectedQuality) {}

    RoundFacts withCounts(int generated, int offline) {
        return new RoundFacts(selection.withCounts(generated, offline), reward, judged);
    }
}
