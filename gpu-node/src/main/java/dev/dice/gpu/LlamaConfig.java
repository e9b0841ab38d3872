package dev.dice.gpu;

import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
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

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Reads a Hugging Face {@code config.json}. Defaults follow transformers' LlamaConfig where HF files
     * commonly omit a field (num_key_value_heads, rope_theta, tie_word_embeddings); everything else must
     * be present, so a config for another architecture fails here instead of as a shape error later.
     */
    public static LlamaConfig load(Path configJson) {
        JsonNode root;
        try {
            root = JSON.readTree(configJson.toFile());
        } catch (NoSuchFileException | FileNotFoundException e) {
            throw new BadInputException(configJson + ": file not found", e);
        } catch (JsonProcessingException e) {
            throw new BadInputException(configJson + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + configJson, e);
        }
        if (root == null || !root.isObject()) {
            throw new BadInputException(configJson + ": expected a JSON object");
        }
        Fields f = new Fields(configJson, root);
        int heads = f.positiveInt("num_attention_heads", null);
        LlamaConfig cfg = new LlamaConfig(
                f.positiveInt("vocab_size", null),
                f.positiveInt("hidden_size", null),
                f.positiveInt("intermediate_size", null),
                f.positiveInt("num_hidden_layers", null),
                heads,
                f.positiveInt("num_key_value_heads", heads),
                f.positiveInt("max_position_embeddings", null),
                f.positiveDouble("rms_norm_eps", null),
                f.positiveDouble("rope_theta", 10000.0),
                f.bool("tie_word_embeddings", false),
                f.tokenId("bos_token_id"),
                f.tokenId("eos_token_id"));
        cfg.validate(configJson);
        return cfg;
    }

    /** Writes a {@code config.json} that Hugging Face transformers loads as a LlamaForCausalLM. */
    public void save(Path configJson) {
        validate(configJson);
        ObjectNode root = JSON.createObjectNode();
        root.putArray("architectures").add("LlamaForCausalLM");
        root.put("model_type", "llama");
        root.put("vocab_size", vocabSize);
        root.put("hidden_size", hiddenSize);
        root.put("intermediate_size", intermediateSize);
        root.put("num_hidden_layers", numHiddenLayers);
        root.put("num_attention_heads", numAttentionHeads);
        root.put("num_key_value_heads", numKeyValueHeads);
        root.put("max_position_embeddings", maxPositionEmbeddings);
        root.put("rms_norm_eps", rmsNormEps);
        root.put("rope_theta", ropeTheta);
        root.put("tie_word_embeddings", tieWordEmbeddings);
        root.put("bos_token_id", bosTokenId);
        root.put("eos_token_id", eosTokenId);
        root.put("hidden_act", "silu");
        root.put("torch_dtype", "float32");
        try {
            AtomicFiles.writeBytes(configJson, JSON.writeValueAsBytes(root));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private void validate(Path where) {
        if (hiddenSize % numAttentionHeads != 0) {
            throw new BadInputException(where + ": 'hidden_size' (" + hiddenSize
                    + ") must be divisible by 'num_attention_heads' (" + numAttentionHeads + ")");
        }
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new BadInputException(where + ": 'num_attention_heads' (" + numAttentionHeads
                    + ") must be divisible by 'num_key_value_heads' (" + numKeyValueHeads + ")");
        }
        if (bosTokenId >= vocabSize || eosTokenId >= vocabSize) {
            throw new BadInputException(where + ": 'bos_token_id' (" + bosTokenId + ") and 'eos_token_id' ("
                    + eosTokenId + ") must be below 'vocab_size' (" + vocabSize + ")");
        }
    }

    /** Typed access to config.json fields, with errors that name the file and the field. */
    private record Fields(Path file, JsonNode root) {

        /** {@code fallback == null} means the field is required. */
        JsonNode get(String name, Object fallback) {
            JsonNode node = root.get(name);
            if ((node == null || node.isNull()) && fallback == null) {
                throw new BadInputException(file + ": missing field '" + name + "'");
            }
            return node == null || node.isNull() ? null : node;
        }

        int positiveInt(String name, Integer fallback) {
            JsonNode node = get(name, fallback);
            if (node == null) {
                return fallback;
            }
            if (!node.canConvertToInt() || !node.isIntegralNumber() || node.intValue() <= 0) {
                throw new BadInputException(file + ": field '" + name + "' must be a positive integer, got " + node);
            }
            return node.intValue();
        }

        double positiveDouble(String name, Double fallback) {
            JsonNode node = get(name, fallback);
            if (node == null) {
                return fallback;
            }
            if (!node.isNumber() || !(node.doubleValue() > 0)) {
                throw new BadInputException(file + ": field '" + name + "' must be a positive number, got " + node);
            }
            return node.doubleValue();
        }

        boolean bool(String name, boolean fallback) {
            JsonNode node = get(name, fallback);
            if (node == null) {
                return fallback;
            }
            if (!node.isBoolean()) {
                throw new BadInputException(file + ": field '" + name + "' must be true or false, got " + node);
            }
            return node.booleanValue();
        }

        /** HF writes eos_token_id as a list when generation may stop on several tokens; the first is the main one. */
        int tokenId(String name) {
            JsonNode node = get(name, null);
            if (node.isArray()) {
                if (node.isEmpty()) {
                    throw new BadInputException(file + ": field '" + name + "' is an empty list");
                }
                node = node.get(0);
            }
            if (!node.canConvertToInt() || !node.isIntegralNumber() || node.intValue() < 0) {
                throw new BadInputException(file + ": field '" + name + "' must be a token id (integer >= 0), got " + node);
            }
            return node.intValue();
        }
    }
}
