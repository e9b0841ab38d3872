package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class EvaluationTest {

    @Test
    void rewardAgreementCountsOnlyPairsOfDifferentQuality() {
        double[][] rewards = {{3, 2, 1}, {0, 5}};
        double[][] quality = {{1, 0.5, 0.5}, {1, 0}};
        // prompt 0: (0,1) agree, (0,2) agree, (1,2) tied quality -> skipped; prompt 1: (0,1) disagrees
        assertEquals(2.0 / 3, Evaluation.rewardAgreement(rewards, quality), 1e-12);
        assertEquals(Double.NaN, Evaluation.rewardAgreement(new double[][] {{1, 2}}, new double[][] {{1, 1}}));
    }
}
