package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {

    private static final LlamaConfig CFG = LlamaConfigTest.TINY;

    @TempDir
    Path dir;
    NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void savedModelLoadsBackExactlyInConfigOrder() {
        Map<String, NDArray> params = randomParams(CFG);
        Checkpoint.saveModel(dir, CFG, params);
        assertEquals(CFG, LlamaConfig.load(dir.resolve(Checkpoint.CONFIG_FILE)));

        Map<String, NDArray> loaded = Checkpoint.loadModel(dir, CFG, manager);
        assertEquals(new ArrayList<>(CFG.parameterShapes().keySet()), new ArrayList<>(loaded.keySet()));
        for (String name : params.keySet()) {
            assertArrayEquals(params.get(name).toFloatArray(), loaded.get(name).toFloatArray(), name);
        }
    }

    @Test
    void loadsShardedCheckpointAndSkipsHfExtras() throws IOException {
        Map<String, NDArray> params = randomParams(CFG);
        Map<String, NDArray> first = new LinkedHashMap<>();
        Map<String, NDArray> second = new LinkedHashMap<>();
        StringBuilder weightMap = new StringBuilder();
        int i = 0;
        for (Map.Entry<String, NDArray> p : params.entrySet()) {
            boolean inFirst = i++ < params.size() / 2;
            (inFirst ? first : second).put(p.getKey(), p.getValue());
            weightMap.append(String.format("\"%s\":\"%s\",", p.getKey(), inFirst ? "shard-1.safetensors" : "shard-2.safetensors"));
        }
        second.put("model.layers.0.self_attn.rotary_emb.inv_freq", manager.ones(new Shape(2)));
        weightMap.append("\"model.layers.0.self_attn.rotary_emb.inv_freq\":\"shard-2.safetensors\"");
        SafeTensors.write(dir.resolve("shard-1.safetensors"), first);
        SafeTensors.write(dir.resolve("shard-2.safetensors"), second);
        Files.writeString(dir.resolve(Checkpoint.INDEX_FILE),
                "{\"metadata\":{\"total_size\":0},\"weight_map\":{" + weightMap + "}}");

        Map<String, NDArray> loaded = Checkpoint.loadModel(dir, CFG, manager);
        assertEquals(CFG.parameterShapes().keySet(), loaded.keySet());
        for (String name : params.keySet()) {
            assertArrayEquals(params.get(name).toFloatArray(), loaded.get(name).toFloatArray(), name);
        }
    }

    @Test
    void tiedCheckpointDoesNotNeedItsLmHead() {
        LlamaConfig tied = new LlamaConfig(300, 16, 40, 1, 4, 2, 64, 1e-5, 1e4, true, 1, 2);
        Map<String, NDArray> stored = randomParams(tied);
        stored.put("lm_head.weight", stored.get("model.embed_tokens.weight"));
        SafeTensors.write(dir.resolve(Checkpoint.WEIGHTS_FILE), stored);
        Map<String, NDArray> loaded = Checkpoint.loadModel(dir, tied, manager);
        assertFalse(loaded.containsKey("lm_head.weight"));
        assertEquals(tied.parameterShapes().keySet(), loaded.keySet());
    }

    @Test
    void shapeMismatchNamesFileTensorAndBothShapes() {
        Map<String, NDArray> stored = randomParams(CFG);
        stored.put("model.layers.1.mlp.up_proj.weight", manager.zeros(new Shape(32, 16)));
        Path file = dir.resolve(Checkpoint.WEIGHTS_FILE);
        SafeTensors.write(file, stored);
        String msg = assertThrows(BadInputException.class, () -> Checkpoint.loadModel(dir, CFG, manager)).getMessage();
        assertEquals(file + ": tensor 'model.layers.1.mlp.up_proj.weight' has shape (32, 16), expected (40, 16)"
                + " from the config", msg);
    }

    @Test
    void missingTensorNamesFileAndTensor() {
        Map<String, NDArray> stored = randomParams(CFG);
        stored.remove("model.norm.weight");
        Path file = dir.resolve(Checkpoint.WEIGHTS_FILE);
        SafeTensors.write(file, stored);
        String msg = assertThrows(BadInputException.class, () -> Checkpoint.loadModel(dir, CFG, manager)).getMessage();
        assertEquals(file + ": missing tensor 'model.norm.weight'", msg);
    }

    @Test
    void tensorsOfALargerModelAreRefused() {
        LlamaConfig deeper = new LlamaConfig(300, 16, 40, 3, 4, 2, 64, 1e-5, 5e5, false, 256, 257);
        SafeTensors.write(dir.resolve(Checkpoint.WEIGHTS_FILE), randomParams(deeper));
        String msg = assertThrows(BadInputException.class, () -> Checkpoint.loadModel(dir, CFG, manager)).getMessage();
        assertTrue(msg.contains("'model.layers.2.") && msg.contains("num_hidden_layers=2"), msg);
    }

    @Test
    void emptyDirectoryIsBadInput() {
        String msg = assertThrows(BadInputException.class, () -> Checkpoint.loadModel(dir, CFG, manager)).getMessage();
        assertTrue(msg.startsWith(dir.toString()), msg);
    }

    record TrainerState(int step, double loss, List<String> shards) {}

    @Test
    void jsonStateAndLooseTensorsRoundTrip() {
        TrainerState state = new TrainerState(42, 1.25, List.of("a", "b"));
        Checkpoint.writeJson(dir.resolve("trainer_state.json"), state);
        assertEquals(state, Checkpoint.readJson(dir.resolve("trainer_state.json"), TrainerState.class));

        Map<String, NDArray> moments = Map.of("m.w", manager.create(new float[] {1, 2}), "v.w", manager.create(new float[] {3, 4}));
        Checkpoint.saveTensors(dir.resolve("optimizer.safetensors"), moments);
        Map<String, NDArray> back = Checkpoint.loadTensors(dir.resolve("optimizer.safetensors"), manager);
        assertArrayEquals(new float[] {3, 4}, back.get("v.w").toFloatArray());
    }

    private Map<String, NDArray> randomParams(LlamaConfig cfg) {
        Map<String, NDArray> params = new LinkedHashMap<>();
        cfg.parameterShapes().forEach((name, shape) -> params.put(name, manager.randomNormal(shape)));
        return params;
    }
}
