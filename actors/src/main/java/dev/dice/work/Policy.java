package dev.dice.work;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.ModelFiles;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.WeightSnapshot;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * A model at one version with the tokenizer and the prompt format it was trained with, and the release files it
 * carries from stage to stage.
 *
 * <p>Two prompt formats. A tokenizer with a chat template: prompts arrive already rendered by the template (the
 * coordinator renders them, special tokens included), and a response is its text followed by the stop token it ended
 * on, which is scored and trained like any other token. Otherwise the plain format the built-in model learns from
 * scratch: BOS, the prompt, a newline; the response follows and ends with EOS.
 */
public final class Policy implements AutoCloseable {
    private final Llama model;
    private final Tokenizer tokenizer;
    private final long version;
    private final ModelFiles files;
    private final List<Integer> stopIds;

    public Policy(Llama model, Tokenizer tokenizer, long version) {
        this(model, tokenizer, version, ModelFiles.BUILT_HERE);
    }

    private Policy(Llama model, Tokenizer tokenizer, long version, ModelFiles files) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.version = version;
        this.files = files;
        Set<Integer> ids = new LinkedHashSet<>(model.config().eosTokenIds());
        ids.add(tokenizer.eosId());
        this.stopIds = List.copyOf(ids);
    }

    /** Loads the Hugging Face layout checkpoint in {@code dir} onto {@code root}'s device. */
    public static Policy load(Path dir, Tokenizer tokenizer, NDManager root, long version) {
        LlamaConfig config = LlamaConfig.load(dir.resolve(Checkpoint.CONFIG_FILE));
        Tokenizer.checkFits(tokenizer, config, dir.toString());
        NDManager manager = root.newSubManager();
        return new Policy(Llama.of(config, manager, Checkpoint.loadModel(dir, config, manager)), tokenizer, version,
                ModelFiles.of(dir, tokenizer.files()));
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

    /**
     * SHA-256 of the weights in parameter order, as their snapshot's: equal exactly when two models hold the same bits
     * (one pass over them, no copy).
     */
    public String weightsSha256() {
        return WeightSnapshot.sha256Hex(model.parameters());
    }

    /**
     * Writes a complete model directory: weights in the dtype the model was released in, its own config.json and
     * generation_config.json, the tokenizer files. The weights are rounded to that dtype first, so the model in memory
     * (which a trainer publishes next) is the one on disk.
     */
    public void save(Path dir) {
        save(dir, false);
    }

    /** {@link #save(Path)}, with {@code float32}: weights as float32 whatever the release's dtype (no rounding). */
    public void save(Path dir, boolean float32) {
        ModelFiles as = float32 ? files.withFloat32() : files;
        as.roundInPlace(model.parameters().values());
        Checkpoint.saveModel(dir, model.config(), model.parameters(), as);
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

    /** Every token that ends a response: the model config's and generation config's eos ids, the tokenizer's EOS. */
    public List<Integer> stopIds() {
        return stopIds;
    }

    private boolean chat() {
        return tokenizer.chatTemplate().isPresent();
    }

    public int[] promptTokens(String prompt) {
        if (chat()) {
            return tokenizer.encode(prompt);
        }
        int[] text = tokenizer.encode(prompt + "\n");
        int[] tokens = new int[text.length + 1];
        tokens[0] = tokenizer.bosId();
        System.arraycopy(text, 0, tokens, 1, text.length);
        return tokens;
    }

    /**
     * The text a sampled response is kept as: its tokens' {@code visible} text, and with a chat template the stop
     * token's text too
     * (so scoring and training see the token the model ended its turn with).
     */
    public String responseText(String visible, int stopToken) {
        return chat() && stopToken >= 0 ? visible + tokenizer.tokenText(stopToken) : visible;
    }

    /**
     * A response as scored and trained on: its tokens, then, when {@code withEos} and it does not already end with a
     * stop token (a chat response carries its own), the end-of-turn token (every training target ends with one).
     */
    public int[] responseTokens(String response, boolean withEos) {
        int[] text = tokenizer.encode(response);
        boolean ended = chat() && text.length > 0 && stopIds.contains(text[text.length - 1]);
        if (!withEos || ended) {
            return text;
        }
        int[] tokens = Arrays.copyOf(text, text.length + 1);
        tokens[text.length] = tokenizer.endOfTurnId();
        return tokens;
    }

    /** A frozen copy under a new version number (the DPO reference, or the trainer's starting point). */
    public Policy copy(long newVersion) {
        return new Policy(model.copy(), tokenizer, newVersion, files);
    }

    @Override
    public void close() {
        model.close();
    }
}
