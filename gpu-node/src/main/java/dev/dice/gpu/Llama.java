package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.core.Linear;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * A decoder-only transformer of the Llama family, written out op by op: RMSNorm, rotary position
 * embeddings, grouped-query attention, a SwiGLU MLP, an optionally tied output head. Parameters live in
 * one map under their Hugging Face names, so {@code model.safetensors} files load as they are. The released
 * relatives differ only in details the config names: biases on projections (Qwen2, attention_bias, mlp_bias),
 * per-head query/key norms (Qwen3), an explicit head size, scaled rotary frequencies (Llama 3.1) and a sliding
 * window (Mistral), which {@link LlamaConfig#context()} keeps every sequence within.
 *
 * <p>Shapes: B batch, T new positions, S attended positions (cache + new), H heads, G key/value heads,
 * D head dim, C hidden size, V vocabulary.
 */
public final class Llama implements AutoCloseable {

    /** Added to attention scores that must be ignored; finite so a fully masked pad row stays NaN-free. */
    public static final float MASKED = -1e9f;

    private final LlamaConfig config;
    private final NDManager manager;
    private final Map<String, NDArray> params;
    private final NDArray cos; // [context, D]
    private final NDArray sin; // [context, D], first half negated: see rotate

    private Llama(LlamaConfig config, NDManager manager, Map<String, NDArray> params) {
        this.config = config;
        this.manager = manager;
        this.params = params;
        this.tape = new LayerTape(config.numHiddenLayers(), this::layer);
        NDArray[] table = rotaryTables(config, manager);
        this.cos = table[0];
        this.sin = table[1];
    }

    /** Wraps weights (for example from {@link Checkpoint#loadModel}); the model owns {@code manager}. */
    public static Llama of(LlamaConfig config, NDManager manager, Map<String, NDArray> weights) {
        Map<String, NDArray> params = new LinkedHashMap<>();
        config.parameterShapes().forEach((name, shape) -> {
            NDArray w = weights.get(name);
            if (w == null) {
                throw new BadInputException("model weights: missing tensor '" + name + "'");
            }
            if (!w.getShape().equals(shape)) {
                throw new BadInputException("model weights: tensor '" + name + "' has shape " + w.getShape()
                        + ", config implies " + shape);
            }
            params.put(name, w);
        });
        return new Llama(config, manager, params);
    }

    /**
     * GPT-2 style initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2·layers), norms 1. Biases are
     * drawn like weights, so a model built to test a checkpoint layout exercises them.
     */
    public static Llama init(LlamaConfig config, NDManager manager, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double residualStd = 0.02 / Math.sqrt(2.0 * config.numHiddenLayers());
        Map<String, NDArray> params = new LinkedHashMap<>();
        config.parameterShapes().forEach((name, shape) -> {
            float[] values = new float[(int) shape.size()];
            if (name.endsWith("norm.weight")) {
                Arrays.fill(values, 1f);
            } else {
                double std = name.endsWith("o_proj.weight") || name.endsWith("down_proj.weight") ? residualStd : 0.02;
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) (std * rng.nextGaussian());
                }
            }
            // in memory libtorch owns, not a Java buffer's: releasing gradients need not copy it (releaseGradients)
            NDArray p = manager.zeros(shape);
            JniUtils.getByteBuffer((PtNDArray) p, true).order(ByteOrder.nativeOrder())
                    .asFloatBuffer().put(values);
            params.put(name, p);
        });
        Llama model = new Llama(config, manager, params);
        model.ownStorage.addAll(params.keySet());
        return model;
    }

    public LlamaConfig config() {
        return config;
    }

    public NDManager manager() {
        return manager;
    }

    /** The parameters in Hugging Face order and naming; the arrays are the model's own, not copies. */
    public Map<String, NDArray> parameters() {
        return params;
    }

    /** A frozen deep copy (for example the DPO reference), on its own manager. */
    public Llama copy() {
        NDManager target = manager.getParentManager().newSubManager(manager.getDevice());
        Map<String, NDArray> copies = new LinkedHashMap<>();
        params.forEach((name, p) -> {
            NDArray c = p.duplicate();
            c.attach(target);
            copies.put(name, c);
        });
        return new Llama(config, target, copies);
    }

    /** Marks every parameter as trainable, so backward passes fill its {@code .grad}. */
    public void requireGradients() {
        params.values().forEach(p -> p.setRequiresGradient(true));
    }

    /**
     * Frees the accumulated gradients of {@code names}. libtorch keeps a {@code .grad} in the tensor it belongs to and
     * DJL cannot reset it, so each parameter is replaced by a fresh trainable leaf over the same values and its old
     * handle is closed: the old tensor and its gradient go once no recorded graph refers to them any more (at once
     * after the step's scope has closed). The first time, the leaf is a copy: a tensor made from a Java buffer lives on
     * that buffer, which only the old handle keeps alive; after that, leaves share memory libtorch owns. The next
     * backward pass starts these gradients afresh.
     */
    public void releaseGradients(Collection<String> names) {
        for (String name : names) {
            NDArray old = params.get(name);
            NDArray fresh;
            try (NDArray detached = old.stopGradient()) {
                fresh = ownStorage.add(name) ? detached.duplicate() : detached.stopGradient();
            }
            NDScope.unregister(fresh); // the model's, not a step's
            fresh.attach(manager);
            fresh.setRequiresGradient(true);
            params.put(name, fresh);
            old.close();
        }
    }

    /**
     * Next-token logits for {@code tokens} [B, T] at {@code positions} [B, T], attending through the
     * additive {@code mask} (broadcastable to [B, H, T, S]). With a cache, keys and values of these
     * tokens are appended to it and attention also covers what it already holds.
     *
     * @return logits [B, T, V]
     */
    public NDArray forward(NDArray tokens, NDArray positions, NDArray mask, KvCache cache) {
        return head(hidden(tokens, positions, mask, cache));
    }

    /** The final-norm hidden states [B, T, C]: {@link #forward} without the output head. */
    NDArray hidden(NDArray tokens, NDArray positions, NDArray mask, KvCache cache) {
        NDArray x = embed(tokens, p("model.embed_tokens.weight"));
        NDArray[] rotary = {embed(positions, cos).expandDims(1), embed(positions, sin).expandDims(1)}; // [B, 1, T, D]
        // The queries' tables carry attention's 1/sqrt(D): scaling them is free, scaling q would be a pass.
        double scale = 1.0 / Math.sqrt(config.headDim());
        NDArray[] queryRotary = {Scalars.mul(rotary[0], scale), Scalars.mul(rotary[1], scale)};
        if (checkpointing && cache == null && JniUtils.isGradMode()) {
            return rmsNorm(tape.checkpointed(x, queryRotary, rotary, mask), p("model.norm.weight"));
        }
        if (segmenting && JniUtils.isGradMode()) {
            return rmsNorm(tape.kept(x, queryRotary, rotary, mask, cache), p("model.norm.weight"));
        }
        for (int i = 0; i < config.numHiddenLayers(); i++) {
            x = layer(i, x, queryRotary, rotary, mask, cache);
        }
        return rmsNorm(x, p("model.norm.weight"));
    }

    /** Decoder layer {@code i}: x + attention(norm(x)), then + mlp(norm(·)). */
    NDArray layer(int i, NDArray x, NDArray[] queryRotary, NDArray[] rotary, NDArray mask, KvCache cache) {
        String layer = "model.layers." + i + ".";
        NDArray h = rmsNorm(x, p(layer + "input_layernorm.weight"));
        x = x.add(attention(h, layer, i, queryRotary, rotary, mask, cache));
        h = rmsNorm(x, p(layer + "post_attention_layernorm.weight"));
        return x.add(mlp(h, layer));
    }

    private final LayerTape tape;
    private final Set<String> ownStorage = new HashSet<>(); // parameters on libtorch's memory
    private boolean checkpointing;
    private boolean segmenting;

    /**
     * Turns activation checkpointing per decoder layer on or off for training passes without a KV cache: a forward
     * pass keeps only each layer's input ({@link LayerTape}); {@link #backwardLayers} recomputes each layer from it.
     */
    public void checkpointActivations(boolean on) {
        checkpointing = on;
    }

    public boolean checkpointsActivations() {
        return checkpointing;
    }

    /**
     * Turns per-layer backward segments on or off for training passes: each decoder layer's graph is kept apart
     * ({@link LayerTape}), so that {@link #backwardLayers} can report each layer as its gradients become final.
     * Checkpointed passes are segmented anyway.
     */
    void segmentLayers(boolean on) {
        segmenting = on;
    }

    /**
     * The rest of a backward pass through checkpointed or segmented layers: call after backward of a loss whose
     * forward pass recorded them (the {@link Trainer} does). Back-propagates one decoder layer at a time from the top,
     * recomputing checkpointed layers from their inputs, and finally into the embedding table; {@code finished} hears
     * the lowest layer whose parameters are final after each turn (the layer count, each layer down to 0, then −1).
     */
    public void backwardLayers(IntConsumer finished) {
        tape.backward(finished);
    }

    /** {@link #backwardLayers} without listening. */
    public void backwardCheckpoints() {
        backwardLayers(layer -> {});
    }

    /**
     * The backward turn of {@link #backwardLayers} after which parameter {@code name}'s gradient is final: its decoder
     * layer, the layer count for the final norm and an untied head, −1 for the embedding table (a tied head's too).
     */
    public int layerOf(String name) {
        if (name.startsWith("model.layers.")) {
            return Integer.parseInt(name.substring(13, name.indexOf('.', 13)));
        }
        return name.equals("model.norm.weight") || name.equals("lm_head.weight") ? config.numHiddenLayers() : -1;
    }

    /**
     * log p(ids[i + 1] | ids[0..i]) for every i of one sequence, without gradients: the model's view of a text, to set
     * beside another runtime's on the same ids.
     */
    public double[] nextTokenLogProbs(int[] ids) {
        Autograd.off();
        try (NDScope scope = new NDScope()) {
            int t = ids.length;
            NDArray tokens = manager.create(Arrays.stream(ids).asLongStream().toArray(), new Shape(1, t));
            NDArray positions = manager.arange(0L, t, 1L, ai.djl.ndarray.types.DataType.INT64).reshape(1, t);
            float[] logp = forward(tokens, positions, Masks.causal(manager, t), null).logSoftmax(-1).toFloatArray();
            double[] next = new double[t - 1];
            for (int i = 0; i < t - 1; i++) {
                next[i] = logp[i * config.vocabSize() + ids[i + 1]];
            }
            return next;
        }
    }

    /** Logits [..., V] of hidden states [..., C]; scorers pass only the positions whose targets they need. */
    NDArray head(NDArray x) {
        return linear(x, config.tieWordEmbeddings() ? p("model.embed_tokens.weight") : p("lm_head.weight"));
    }

    private NDArray attention(NDArray x, String layer, int index, NDArray[] queryRotary, NDArray[] keyRotary,
            NDArray mask, KvCache cache) {
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);
        int heads = config.numAttentionHeads();
        int kvHeads = config.numKeyValueHeads();
        int d = config.headDim();
        NDArray q = linear(x, layer + "self_attn.q_proj").reshape(b, t, heads, d);
        NDArray k = linear(x, layer + "self_attn.k_proj").reshape(b, t, kvHeads, d);
        NDArray v = linear(x, layer + "self_attn.v_proj").reshape(b, t, kvHeads, d).transpose(0, 2, 1, 3);
        if (config.qkNorm()) {
            q = rmsNorm(q, p(layer + "self_attn.q_norm.weight"));
            k = rmsNorm(k, p(layer + "self_attn.k_norm.weight"));
        }
        q = q.transpose(0, 2, 1, 3);
        k = k.transpose(0, 2, 1, 3);
        q = rotate(q, queryRotary); // q·R / sqrt(D)
        k = rotate(k, keyRotary);
        if (cache != null) {
            NDArray[] kv = cache.append(index, k, v);
            k = kv[0];
            v = kv[1];
        }
        k = repeatKv(k, heads / kvHeads);
        v = repeatKv(v, heads / kvHeads);
        NDArray scores = q.matMul(k.transpose(0, 1, 3, 2));
        if (mask != null) {
            scores = scores.add(mask);
        }
        NDArray y = scores.softmax(-1).matMul(v); // [B, H, T, D]
        y = y.transpose(0, 2, 1, 3).reshape(b, t, (long) heads * d);
        return linear(y, layer + "self_attn.o_proj");
    }

    private NDArray mlp(NDArray x, String layer) {
        NDArray gate = linear(x, layer + "mlp.gate_proj");
        NDArray up = linear(x, layer + "mlp.up_proj");
        NDArray silu = gate.mul(Activation.sigmoid(gate));
        return linear(silu.mul(up), layer + "mlp.down_proj");
    }

    /**
     * x / sqrt(mean(x²) + eps) · weight over the last axis (the hidden size, or a head's size for Qwen3's query and key
     * norms); the mean of squares comes from one norm pass, not square then mean.
     */
    private NDArray rmsNorm(NDArray x, NDArray weight) {
        NDArray norm = x.norm(new int[] {-1}, true); // [..., 1]
        NDArray rms = Scalars.div(norm.square(), weight.getShape().get(0)).add(config.rmsNormEps()).sqrt();
        return x.div(rms).mul(weight);
    }

    /**
     * Rotary embedding, Hugging Face's "rotate half" layout: (x1, x2) -> (x1·cos − x2·sin, x2·cos + x1·sin), as
     * x·cos + (x2, x1)·(−sin, sin); the sign lives in the table, which saves a negation pass.
     */
    private static NDArray rotate(NDArray x, NDArray[] table) {
        NDList halves = x.split(2, 3);
        NDArray swapped = NDArrays.concat(new NDList(halves.get(1), halves.get(0)), -1);
        return x.mul(table[0]).add(swapped.mul(table[1]));
    }

    /** Grouped-query attention: each key/value head serves {@code groups} consecutive query heads. */
    private static NDArray repeatKv(NDArray kv, int groups) {
        if (groups == 1) {
            return kv;
        }
        Shape s = kv.getShape(); // [B, G, S, D]
        return kv.expandDims(2).broadcast(new Shape(s.get(0), s.get(1), groups, s.get(2), s.get(3)))
                .reshape(s.get(0), s.get(1) * groups, s.get(2), s.get(3));
    }

    private static NDArray embed(NDArray ids, NDArray table) {
        return table.getNDArrayInternal().embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    private static NDArray linear(NDArray x, NDArray weight) {
        return Linear.linear(x, weight).singletonOrThrow();
    }

    /** The projection {@code name} (its .weight, and its .bias where the config gives it one). */
    private NDArray linear(NDArray x, String name) {
        NDArray bias = params.get(name + ".bias");
        return Linear.linear(x, p(name + ".weight"), bias).singletonOrThrow();
    }

    private NDArray p(String name) {
        return params.get(name);
    }

    private static NDArray[] rotaryTables(LlamaConfig config, NDManager manager) {
        int d = config.headDim();
        int positions = config.context();
        double[] invFreq = RopeScaling.inverseFrequencies(config.ropeTheta(), d, config.variant().ropeScaling());
        float[] cos = new float[positions * d];
        float[] sin = new float[positions * d];
        for (int pos = 0; pos < positions; pos++) {
            for (int i = 0; i < d / 2; i++) {
                double angle = pos * invFreq[i];
                cos[pos * d + i] = cos[pos * d + i + d / 2] = (float) Math.cos(angle);
                sin[pos * d + i] = (float) -Math.sin(angle);
                sin[pos * d + i + d / 2] = (float) Math.sin(angle);
            }
        }
        Shape shape = new Shape(positions, d);
        return new NDArray[] {manager.create(cos, shape), manager.create(sin, shape)};
    }

    @Override
    public void close() {
        manager.close();
    }
}
