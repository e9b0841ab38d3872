package dev.dice.work;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.WeightSnapshot;
import java.nio.file.Path;

/**
 * A model at one version with the tokenizer and the prompt format it was trained with. The format is
 * deliberately plain — BOS, the prompt, a newline; the response follows and ends with EOS — because the
 * built-in model learns it from scratch; chat templates of imported models are not applied (README).
 */
public final class Policy implements AutoCloseable {
    private final Llama model;
    private final Tokenizer tokenizer;
    private final long version;

    public Policy(Llama model, Tokenizer tokenizer, long version) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.version = version;
    }

    /** Loads the Hugging Face layout checkpoint in {@code dir} onto {@code root}'s device. */
    public static Policy load(Path dir, Tokenizer tokenizer, NDManager root, long version) {
        LlamaConfig config = LlamaConfig.load(dir.resolve(Checkpoint.CONFIG_FILE));
        Tokenizer.checkFits(tokenizer, config, dir.toString());
        NDManager manager = root.newSubManager();
        return new Policy(Llama.of(config, manager, Checkpoint.loadModel(dir, config, manager)), tokenizer, version);
    }

    /** Builds the model of {@code config} from a verified weight snapshot (the weights arrive over the network). */
    public static Policy of(WeightSnapshot weights, LlamaConfig config, Tokenizer tokenizer, NDManager root) {
        Tokenizer.checkFits(tokenizer, config, "weight snapshot v" + weights.version());
        NDManager manager = root.newSubManager();
        return new Policy(Llama.of(config, manager, weights.toArrays(manager)), tokenizer, weights.version());
    }

    /** The weights as a versioned snapshot (a copy), in the model's parameter order. */
    public WeightSnapshot snapshot() {
        return WeightSnapshot.of(version, model.parameters());
    }

    /** SHA-256 of the weights in parameter order: equal exactly when two models hold the same bits (one pass over them). */
    public String weightsSha256() {
        return snapshot().sha256Hex();
    }

    public void save(Path dir) {
        Checkpoint.saveModel(dir, model.config(), model.parameters());
    }

    public Llama model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public long version() {
        return version;
    }

    public int[] promptTokens(String prompt) {
        int[] text = tokenizer.encode(prompt + "\n");
        int[] tokens = new int[text.length + 1];
        tokens[0] = tokenizer.bosId();
        System.arraycopy(text, 0, tokens, 1, text.length);
        return tokens;
    }

    /** A response as scored and trained on: its tokens, then EOS when it ended (every training target does). */
    public int[] responseTokens(String response, boolean withEos) {
        int[] text = tokenizer.encode(response);
        if (!withEos) {
            return text;
        }
        int[] tokens = java.util.Arrays.copyOf(text, text.length + 1);
        tokens[text.length] = tokenizer.eosId();
        return tokens;
    }

    /** A frozen copy under a new version number (the DPO reference, or the trainer's starting point). */
    public Policy copy(long newVersion) {
        return new Policy(model.copy(), tokenizer, newVersion);
    }

    @Override
    public void close() {
        model.close();
    }
}
