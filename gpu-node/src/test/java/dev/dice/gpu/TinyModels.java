package dev.dice.gpu;

import ai.djl.ndarray.NDManager;

/** Small shapes for fast tests: 2 layers, 4 query heads sharing 2 key/value heads. */
final class TinyModels {
    private TinyModels() {}

    static LlamaConfig config(int vocab, int context, boolean tied) {
        return new LlamaConfig(vocab, 32, 64, 2, 4, 2, context, 1e-5, 10000.0, tied, 1, 2);
    }

    static Llama model(NDManager root, long seed) {
        return Llama.init(config(32, 32, false), root.newSubManager(), seed);
    }
}
