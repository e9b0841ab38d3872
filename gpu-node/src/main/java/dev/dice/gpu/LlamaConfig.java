package dev.dice.gpu;

import ai.djl.ndarray.types.Shape;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The hyper-parameters of a Llama-family decoder, field for field the Hugging Face {@code config.json}
 * (snake_case there, camelCase here). Reading and writing the JSON lives in {@link #load} / {@link #save}.
 */
public record LlamaConfig(
        int vocabSize,
        int hiddenSize,
        int intermediateSize,
        int numHiddenLayers,
        int numAttentionHeads,
        int numKeyValueHeads,
        int maxPositionEmbeddings,
        double rmsNormEps,
        double ropeTheta,
        boolean tieWordEmbeddings,
        int bosTokenId,
        int eosTokenId) {

    public int headDim() {
        return hiddenSize / numAttentionHeads;
    }

    /** Every parameter the model holds, by its Hugging Face name, with the shape this config implies. */
    public Map<String, Shape> parameterShapes() {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        int kv = numKeyValueHeads * headDim();
        shapes.put("model.embed_tokens.weight", new Shape(vocabSize, hiddenSize));
        for (int i = 0; i < numHiddenLayers; i++) {
            String p = "model.layers." + i + ".";
            shapes.put(p + "input_layernorm.weight", new Shape(hiddenSize));
            shapes.put(p + "self_attn.q_proj.weight", new Shape(hiddenSize, hiddenSize));
            shapes.put(p + "self_attn.k_proj.weight", new Shape(kv, hiddenSize));
            shapes.put(p + "self_attn.v_proj.weight", new Shape(kv, hiddenSize));
            shapes.put(p + "self_attn.o_proj.weight", new Shape(hiddenSize, hiddenSize));
            shapes.put(p + "post_attention_layernorm.weight", new Shape(hiddenSize));
            shapes.put(p + "mlp.gate_proj.weight", new Shape(intermediateSize, hiddenSize));
            shapes.put(p + "mlp.up_proj.weight", new Shape(intermediateSize, hiddenSize));
            shapes.put(p + "mlp.down_proj.weight", new Shape(hiddenSize, intermediateSize));
        }
        shapes.put("model.norm.weight", new Shape(hiddenSize));
        if (!tieWordEmbeddings) {
            shapes.put("lm_head.weight", new Shape(vocabSize, hiddenSize));
        }
        return shapes;
    }

    public long parameterCount() {
        return parameterShapes().values().stream().mapToLong(Shape::size).sum();
    }
}
