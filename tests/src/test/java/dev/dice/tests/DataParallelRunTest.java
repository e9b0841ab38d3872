package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.StageResult;
import dev.dice.ops.DiceMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dice run --trainers 2}: the DPO stage trained by two trainers in a ring gives the weights one trainer gives
 * on the same data, the evaluation's generators take them from the trainer rather than from disk, and the trainers
 * record their all-reduce traffic; with {@code --fp16-gradients} half the bytes travel and the weights stay close; with
 * {@code --zero-stage 2} the same bytes travel (reduce-scatter, then the new weights all-gathered) and the weights are
 * one trainer's.
 */
class DataParallelRunTest {

    @Test
    void twoTrainersGiveTheDpoWeightsOfOne(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        List<StageResult> one = run(out, 1, false, 0);
        assertEquals(List.of("sft", "dpo"), one.stream().map(StageResult::name).toList());

        // Keep one trainer's π1 aside and train the DPO stage again on two: same π0, same D_off (dpo/offline.jsonl).
        Path oneTrainer = dir.resolve("one-trainer-model");
        Files.move(out.resolve("dpo/model"), oneTrainer);
        Files.delete(out.resolve("dpo/stage.json"));
        double syncsBefore = DiceMetrics.get().weightSyncs.get();
        Traffic fp32 = Traffic.during(() -> run(out, 2, false, 0));
        assertTrue(DiceMetrics.get().weightSyncs.get() > syncsBefore, "the generators fetched π1 from the trainer");

        Map<String, float[]> expected = SavedWeights.of(oneTrainer);
        Map<String, float[]> start = SavedWeights.of(out.resolve("sft/model"));
        Map<String, float[]> twoTrainers = SavedWeights.of(out.resolve("dpo/model"));
        double maxMove = maxDiff(expected, start);
        double maxDiff = maxDiff(expected, twoTrainers);
        System.out.printf("dpo: 2 trainers vs 1: max |Δw| = %.3g (DPO moved the weights up to %.3g)%n", maxDiff, maxMove);
        assertTrue(maxMove > 1e-5, "DPO moved the weights (" + maxMove + ")");
        assertTrue(maxDiff < 1e-5, "2 trainers vs 1: max |Δw| = " + maxDiff);

        // Both trainers of this JVM record into its counters. R = 2: a rank sends its half in the reduce-scatter and
        // the other half in the all-gather, the whole gradient per step, 4 bytes a value.
        long parameters = expected.values().stream().mapToLong(w -> w.length).sum();
        long steps = 8;
        assertEquals(2 * steps * parameters * 4, fp32.bytes, 0.0, "all-reduce bytes: 2 ranks x 8 steps x gradient bytes");
        assertTrue(fp32.operations > 0 && fp32.operations % (2 * steps) == 0, "operations: " + fp32.operations);
        assertTrue(fp32.seconds > 0, "all-reduce seconds: " + fp32.seconds);

        // The same stage with fp16 gradients: half the bytes, weights close to fp32's
        Files.move(out.resolve("dpo/model"), dir.resolve("two-trainers-model"));
        Files.delete(out.resolve("dpo/stage.json"));
        Traffic fp16 = Traffic.during(() -> run(out, 2, true, 0));
        assertEquals(fp32.bytes / 2, fp16.bytes, 0.0, "fp16 gradients: half the bytes");
        assertEquals(fp32.operations, fp16.operations, 0.0);
        Map<String, float[]> fp16Weights = SavedWeights.of(out.resolve("dpo/model"));
        double fp16Gap = distance(expected, fp16Weights) / distance(expected, start);
        System.out.printf("dpo: 2 trainers, fp16 gradients, vs 1 (fp32): max |Δw| = %.3g, |Δw| / |DPO's move| = %.3g%n",
                maxDiff(expected, fp16Weights), fp16Gap);
        assertTrue(fp16Gap > 0 && fp16Gap < 0.005, "fp16 gradients vs fp32: |Δw| / |DPO's move| = " + fp16Gap);

        // ZeRO-2: optimizer moments and gradient buffers sharded over the two trainers
        Files.move(out.resolve("dpo/model"), dir.resolve("fp16-model"));
        Files.delete(out.resolve("dpo/stage.json"));
        Traffic zero = Traffic.during(() -> run(out, 2, false, 2));
        assertEquals(fp32.bytes, zero.bytes, 0.0, "ZeRO-2: the bytes of an all-reduce");
        assertEquals(fp32.operations, zero.operations, 0.0);
        double zeroDiff = maxDiff(expected, SavedWeights.of(out.resolve("dpo/model")));
        System.out.printf("dpo: 2 trainers, ZeRO-2, vs 1: max |Δw| = %.3g%n", zeroDiff);
        assertTrue(zeroDiff < 1e-5, "ZeRO-2 vs 1 trainer: max |Δw| = " + zeroDiff);
    }

    /** What this JVM's trainers recorded in {@code dice_allreduce_*} while {@code action} ran. */
    private record Traffic(double bytes, double seconds, double operations) {
        static Traffic during(Runnable action) {
            DiceMetrics m = DiceMetrics.get();
            double bytes = m.allReduceBytes.get();
            double seconds = m.allReduceSeconds.get();
            double operations = m.allReduceOperations.get();
            action.run();
            return new Traffic(m.allReduceBytes.get() - bytes, m.allReduceSeconds.get() - seconds,
                    m.allReduceOperations.get() - operations);
        }
    }

    /** Euclidean distance over every weight. */
    private static double distance(Map<String, float[]> a, Map<String, float[]> b) {
        double sum = 0;
        for (String name : a.keySet()) {
            for (int i = 0; i < a.get(name).length; i++) {
                double d = a.get(name)[i] - b.get(name)[i];
                sum += d * d;
            }
        }
        return Math.sqrt(sum);
    }

    private static double maxDiff(Map<String, float[]> a, Map<String, float[]> b) {
        double max = 0;
        for (String name : a.keySet()) {
            for (int i = 0; i < a.get(name).length; i++) {
                max = Math.max(max, Math.abs(a.get(name)[i] - b.get(name)[i]));
            }
        }
        return max;
    }

    /** The smoke preset, cut to SFT and DPO on small counts; every message goes through its wire format. */
    private static List<StageResult> run(Path out, int trainers, boolean fp16Gradients, int zeroStage) {
        Map<String, Object> overrides = new HashMap<>(Map.of("dice.out", out.toString(), "dice.seed", 3,
                "dice.rounds.count", 0, "dice.sft.steps", 10, "dice.dpo.steps", 8, "dice.data.offline-prompts", 32,
                "dice.eval.prompts", 8, "dice.eval.agreement-prompts", 8, "dice.cluster.trainers", trainers));
        overrides.put("dice.cluster.fp16-gradients", fp16Gradients);
        overrides.put("dice.train.zero-stage", zeroStage);
        overrides.put("pekko.actor.serialize-messages", "on");
        return DiceRun.run(DiceRun.configure(ConfigFactory.parseMap(overrides), null, "smoke"));
    }
}
