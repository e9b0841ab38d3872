package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/** Small shapes for fast tests: 2 layers, 4 query heads sharing 2 key/value heads. */
final class TinyModels {
    private TinyModels() {}

    static LlamaConfig config(int vocab, int context, boolean tied) {
        return new LlamaConfig(vocab, 32, 64, 2, 4, 2, context, 1e-5, 10000.0, tied, 1, 2);
    }

    static Llama model(NDManager root, long seed) {
        return Llama.init(config(32, 32, false), root.newSubManager(), seed);
    }

    /** Every parameter's gradient of the scalar {@code loss} (recorded, back-propagated, then zeroed again). */
    static Map<String, float[]> gradients(Llama model, Supplier<NDArray> loss) {
        try (NDScope scope = new NDScope()) {
            Autograd.backward(Autograd.recording(loss::get));
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        model.parameters().forEach((name, p) -> {
            out.put(name, Autograd.gradient(p).toFloatArray());
            Autograd.zeroGradient(p);
        });
        return out;
    }
}
