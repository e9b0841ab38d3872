package dev.dice.work;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** How a global batch is split over the ranks of a ring, and where a resumed stage picks up the data. */
class TrainingShareTest {

    @Test
    void sharesPartitionTheBatchAndTheirWeightsAverageToTheBatchMean() {
        for (int size = 1; size <= 40; size++) {
            for (int world = 1; world <= size; world++) {
                int next = 0;
                double meanOfWeights = 0;
                for (int rank = 0; rank < world; rank++) {
                    Training.Share share = Training.Share.of(size, rank, world);
                    assertEquals(next, share.from(), "contiguous");
                    assertTrue(share.size() == size / world || share.size() == size / world + 1, "balanced");
                    next = share.to();
                    meanOfWeights += share.weight(size, world) / world;
                }
                assertEquals(size, next, "covers the batch");
                // If every pair's loss were 1, each rank's weighted share loss is its weight, and the all-reduce mean
                // of those must be the batch's mean loss, 1.
                assertEquals(1.0, meanOfWeights, 1e-12, "size " + size + ", world " + world);
            }
        }
        assertEquals(1.2, Training.Share.of(10, 0, 3).weight(10, 3), 1e-12); // 4 of 10 pairs on 3 ranks
        assertThrows(IllegalArgumentException.class, () -> Training.Share.of(2, 0, 3));
    }

    @Test
    void aResumedStageSeesTheBatchesItWouldHaveSeen() {
        List<Integer> data = IntStream.range(0, 7).boxed().toList();
        Training.Batches<Integer> fromStart = new Training.Batches<>(data, 3, 11);
        List<List<Integer>> all = new ArrayList<>();
        for (int step = 0; step < 9; step++) {
            all.add(fromStart.next());
        }
        for (int step = 0; step < 9; step++) {
            assertEquals(all.get(step), Training.Batches.from(data, 3, 11, step).next(), "step " + step);
        }
    }
}
