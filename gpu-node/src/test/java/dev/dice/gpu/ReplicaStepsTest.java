package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The runtime bench's replicas train data-parallel: two ranks on the two halves of a batch take one trainer's step. */
class ReplicaStepsTest {

    @Test
    void twoReplicasOnHalfABatchEachStepLikeOneTrainerOnTheBatch() {
        try (NDManager root = NDManager.newBaseManager()) {
            Llama alone = TinyModels.model(root, 7);
            Llama ranked = TinyModels.model(root, 7);
            Trainer.Settings settings = Trainer.Settings.of(LrSchedule.constant(1e-2, 1), 1.0);
            Trainer trainer = new Trainer(alone, settings);
            List<SequenceBatch> halves = List.of(batch(alone.config(), 1), batch(alone.config(), 2));
            try (ReplicaSteps replicas = new ReplicaSteps(ranked, settings, 2)) {
                for (int step = 0; step < 3; step++) {
                    // one trainer: the mean of the halves' losses is the whole batch's (equal halves)
                    halves.forEach(h -> trainer.sft(h, 0.5));
                    trainer.step();
                    replicas.step(rank -> replicas.trainer(rank).sft(halves.get(rank), 1.0));
                }
                for (int rank = 0; rank < 2; rank++) {
                    double diff = maxDiff(alone.parameters(), replicas.trainer(rank).model().parameters());
                    assertTrue(diff < 1e-5, "rank " + rank + " vs one trainer: max |Δw| = " + diff);
                }
                assertTrue(maxDiff(alone.parameters(), TinyModels.model(root, 7).parameters()) > 1e-4, "it trained");
            }
        }
    }

    private static SequenceBatch batch(LlamaConfig config, long seed) {
        Random rng = new Random(seed);
        List<int[]> prompts = new ArrayList<>();
        List<int[]> responses = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            prompts.add(rng.ints(4, 0, config.vocabSize()).toArray());
            responses.add(rng.ints(6, 0, config.vocabSize()).toArray());
        }
        return SequenceBatch.of(prompts, responses, 0);
    }

    private static double maxDiff(Map<String, NDArray> a, Map<String, NDArray> b) {
        double max = 0;
        for (String name : a.keySet()) {
            float[] x = a.get(name).toFloatArray();
            float[] y = b.get(name).toFloatArray();
            for (int i = 0; i < x.length; i++) {
                max = Math.max(max, Math.abs(x[i] - y[i]));
            }
        }
        return max;
    }
}
