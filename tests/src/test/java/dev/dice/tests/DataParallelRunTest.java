package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.StageResult;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.LlamaConfig;
import dev.dice.ops.DiceMetrics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dice run --trainers 2}: the DPO stage trained by two trainers in a ring gives the weights one trainer gives
 * on the same data, and the evaluation's generators take them from the trainer rather than from disk.
 */
class DataParallelRunTest {

    @Test
    void twoTrainersGiveTheDpoWeightsOfOne(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        List<StageResult> one = run(out, 1);
        assertEquals(List.of("sft", "dpo"), one.stream().map(StageResult::name).toList());

        // Keep one trainer's π1 aside and train the DPO stage again on two: same π0, same D_off (dpo/offline.jsonl).
        Path oneTrainer = dir.resolve("one-trainer-model");
        Files.move(out.resolve("dpo/model"), oneTrainer);
        Files.delete(out.resolve("dpo/stage.json"));
        double syncsBefore = DiceMetrics.get().weightSyncs.get();
        run(out, 2);
        assertTrue(DiceMetrics.get().weightSyncs.get() > syncsBefore, "the generators fetched π1 from the trainer");

        Map<String, float[]> expected = weights(oneTrainer);
        Map<String, float[]> got = weights(out.resolve("dpo/model"));
        Map<String, float[]> start = weights(out.resolve("sft/model"));
        double maxDiff = 0;
        double maxMove = 0;
        for (String name : expected.keySet()) {
            for (int i = 0; i < expected.get(name).length; i++) {
                maxDiff = Math.max(maxDiff, Math.abs(expected.get(name)[i] - got.get(name)[i]));
                maxMove = Math.max(maxMove, Math.abs(expected.get(name)[i] - start.get(name)[i]));
            }
        }
        System.out.printf("dpo: 2 trainers vs 1: max |Δw| = %.3g (DPO moved the weights up to %.3g)%n", maxDiff, maxMove);
        assertTrue(maxMove > 1e-5, "DPO moved the weights (" + maxMove + ")");
        assertTrue(maxDiff < 1e-5, "2 trainers vs 1: max |Δw| = " + maxDiff);
    }

    /** The smoke preset, cut to SFT and DPO on small counts; every message goes through its wire format. */
    private static List<StageResult> run(Path out, int trainers) {
        Map<String, Object> overrides = new HashMap<>(Map.of("dice.out", out.toString(), "dice.seed", 3,
                "dice.rounds.count", 0, "dice.sft.steps", 10, "dice.dpo.steps", 8, "dice.data.offline-prompts", 32,
                "dice.eval.prompts", 8, "dice.eval.agreement-prompts", 8, "dice.cluster.trainers", trainers));
        overrides.put("pekko.actor.serialize-messages", "on");
        return DiceRun.run(DiceRun.configure(ConfigFactory.parseMap(overrides), null, "smoke"));
    }

    private static Map<String, float[]> weights(Path model) {
        LlamaConfig config = LlamaConfig.load(model.resolve(Checkpoint.CONFIG_FILE));
        Map<String, float[]> out = new LinkedHashMap<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoint.loadModel(model, config, manager).forEach((name, w) -> out.put(name, w.toFloatArray()));
        }
        return out;
    }
}
