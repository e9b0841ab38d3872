package dev.dice.tests;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.LlamaConfig;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/** A saved model's tensors, by name, as floats: what tests compare between runs. */
final class SavedWeights {
    private SavedWeights() {}

    static Map<String, float[]> of(Path model) {
        LlamaConfig config = LlamaConfig.load(model.resolve(Checkpoint.CONFIG_FILE));
        Map<String, float[]> out = new LinkedHashMap<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            Checkpoint.loadModel(model, config, manager).forEach((name, w) -> out.put(name, w.toFloatArray()));
        }
        return out;
    }
}
