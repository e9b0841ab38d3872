package dev.dice.cli;

import dev.dice.gpu.LlamaConfig;

/** The embedded default's model: a byte-level Llama small enough to train on two CPU cores in minutes. */
final class BuiltinModel {
    private BuiltinModel() {}

    /** 3 layers, d_model 128, 4 heads, SwiGLU 384; vocabulary = 256 bytes + BOS 256, EOS 257, PAD 258. */
    static LlamaConfig config() {
        return new LlamaConfig(259, 128, 384, 3, 4, 4, 96, 1e-5, 10000.0, true, 256, 257);
    }
}
