package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.TrainersPerDevice;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.ops.DiceMetrics;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A single-process run with {@code dice.cluster.trainers = 0} (per device) on two cores trains SFT and DPO on two
 * single-threaded trainers, a ring in the JVM, and ends with the weights one trainer gives, up to float rounding.
 */
class PerCoreTrainersTest {
    private static final int SFT_STEPS = 10;
    private static final int DPO_STEPS = 8;
    private static final String THREADS = "ai.djl.pytorch.num_threads";

    @Test
    void perDeviceTrainsOnOneTrainerPerCoreLikeOne(@TempDir Path dir) {
        // The tests' JVMs run libtorch on one thread (one core, a ring of one); ./dice gives it one per core.
        String threads = System.getProperty(THREADS);
        System.setProperty(THREADS, "2");
        try {
            compare(dir);
        } finally {
            if (threads == null) {
                System.clearProperty(THREADS);
            } else {
                System.setProperty(THREADS, threads);
            }
        }
    }

    private static void compare(Path dir) {
        Path one = dir.resolve("one");
        run(one, 1);
        Path perCore = dir.resolve("per-core");
        DiceMetrics m = DiceMetrics.get();
        double bytesBefore = m.allReduceBytes.get();
        run(perCore, 0);
        double bytes = m.allReduceBytes.get() - bytesBefore;

        // The smoke preset's smallest DPO batch is the rounds' 16; a CPU with the built-in model: one per core.
        int ring = TrainersPerDevice.of(false, true, IntraOpThreads.jvmDefault(), 16);
        assertEquals(2, ring, "two cores: two trainers");
        Map<String, float[]> sftOne = SavedWeights.of(one.resolve("sft/model"));
        long parameters = sftOne.values().stream().mapToLong(w -> w.length).sum();
        // A ring of R: every rank sends 2 (R - 1) / R of the gradient's fp32 bytes a step (reduce-scatter, all-gather).
        assertEquals(2.0 * (ring - 1) * (SFT_STEPS + DPO_STEPS) * parameters * 4, bytes, 0.0,
                "all-reduce bytes of a ring of " + ring + " over " + (SFT_STEPS + DPO_STEPS) + " steps");

        for (String stage : new String[] {"sft", "dpo"}) {
            Map<String, float[]> a = SavedWeights.of(one.resolve(stage + "/model"));
            Map<String, float[]> b = SavedWeights.of(perCore.resolve(stage + "/model"));
            double maxDiff = 0;
            double maxWeight = 0;
            for (String name : a.keySet()) {
                for (int i = 0; i < a.get(name).length; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(a.get(name)[i] - b.get(name)[i]));
                    maxWeight = Math.max(maxWeight, Math.abs(a.get(name)[i]));
                }
            }
            System.out.printf("%s: %d trainer(s) vs 1: max |Δw| = %.3g (max |w| %.3g)%n", stage, ring, maxDiff,
                    maxWeight);
            assertTrue(maxDiff <= 1e-5 * maxWeight, stage + ": max |Δw| " + maxDiff + " vs max |w| " + maxWeight);
        }
    }

    /** The smoke preset cut to SFT and DPO, on {@code trainers} trainers (0: per device). */
    private static void run(Path out, int trainers) {
        Map<String, Object> overrides = new HashMap<>(Map.of("dice.out", out.toString(), "dice.seed", 3,
                "dice.rounds.count", 0, "dice.sft.steps", SFT_STEPS, "dice.dpo.steps", DPO_STEPS,
                "dice.data.offline-prompts", 32, "dice.eval.prompts", 8, "dice.eval.agreement-prompts", 8,
                "dice.cluster.trainers", trainers));
        DiceRun.run(DiceRun.configure(ConfigFactory.parseMap(overrides), null, "smoke"));
    }
}
