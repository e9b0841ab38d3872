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
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hyper-parameters of a Llama-family decoder, field for field the Hugging Face {@code config.json}
 * (snake_case there, camelCase here); what the released families do differently lives in {@link Variant}.
 * Reading and writing the JSON lives in {@link #load} / {@link #save}.
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
        int eosTokenId,
        Variant variant) {

    /** A plain Llama: head size hidden / heads, no biases, unscaled rotary embeddings. */
    public LlamaConfig(int vocabSize, int hiddenSize, int intermediateSize, int numHiddenLayers, int numAttentionHeads,
            int numKeyValueHeads, int maxPositionEmbeddings, double rmsNormEps, double ropeTheta,
            boolean tieWordEmbeddings, int bosTokenId, int eosTokenId) {
        this(vocabSize, hiddenSize, intermediateSize, numHiddenLayers, numAttentionHeads, numKeyValueHeads,
                maxPositionEmbeddings, rmsNormEps, ropeTheta, tieWordEmbeddings, bosTokenId, eosTokenId, Variant.LLAMA);
    }

    public int headDim() {
        return variant.headDim() > 0 ? variant.headDim() : hiddenSize / numAttentionHeads;
    }

    /**
     * The longest sequence this model attends over exactly: its position limit, or the sliding window where one is
     * applied (a sequence no longer than the window attends as with full attention, so windows are never needed).
     */
    public int context() {
        return variant.slidingWindow() > 0 ? Math.min(maxPositionEmbeddings, variant.slidingWindow())
                : maxPositionEmbeddings;
    }

    /** Every token id that ends a response: config.json's eos_token_id (int or list), generation_config.json's. */
    public List<Integer> eosTokenIds() {
        return variant.eosTokenIds().isEmpty() ? List.of(eosTokenId) : variant.eosTokenIds();
    }

    /** Biases on the q/k/v projections: always for Qwen2, else where attention_bias says. */
    public boolean qkvBias() {
        return variant.architecture() == Architecture.QWEN2 || variant.attentionBias();
    }

    /** A bias on the output projection: where attention_bias says (Qwen2 has none there). */
    public boolean outputBias() {
        return variant.architecture() != Architecture.QWEN2 && variant.attentionBias();
    }

    /** Qwen3 normalises each head's queries and keys (RMSNorm over the head dimension) before the rotation. */
    public boolean qkNorm() {
        return variant.architecture() == Architecture.QWEN3;
    }

    /** Every parameter the model holds, by its Hugging Face name, with the shape this config implies. */
    public Map<String, Shape> parameterShapes() {
        Map<String, Shape> shapes = new LinkedHashMap<>();
        int q = numAttentionHeads * headDim();
        int kv = numKeyValueHeads * headDim();
        shapes.put("model.embed_tokens.weight", new Shape(vocabSize, hiddenSize));
        for (int i = 0; i < numHiddenLayers; i++) {
            String p = "model.layers." + i + ".";
            shapes.put(p + "input_layernorm.weight", new Shape(hiddenSize));
            linear(shapes, p + "self_attn.q_proj", q, hiddenSize, qkvBias());
            linear(shapes, p + "self_attn.k_proj", kv, hiddenSize, qkvBias());
            linear(shapes, p + "self_attn.v_proj", kv, hiddenSize, qkvBias());
            linear(shapes, p + "self_attn.o_proj", hiddenSize, q, outputBias());
            if (qkNorm()) {
                shapes.put(p + "self_attn.q_norm.weight", new Shape(headDim()));
                shapes.put(p + "self_attn.k_norm.weight", new Shape(headDim()));
            }
            shapes.put(p + "post_attention_layernorm.weight", new Shape(hiddenSize));
            linear(shapes, p + "mlp.gate_proj", intermediateSize, hiddenSize, variant.mlpBias());
            linear(shapes, p + "mlp.up_proj", intermediateSize, hiddenSize, variant.mlpBias());
            linear(shapes, p + "mlp.down_proj", hiddenSize, intermediateSize, variant.mlpBias());
        }
        shapes.put("model.norm.weight", new Shape(hiddenSize));
        if (!tieWordEmbeddings) {
            shapes.put("lm_head.weight", new Shape(vocabSize, hiddenSize));
        }
        return shapes;
    }

    private static void linear(Map<String, Shape> shapes, String name, int out, int in, boolean bias) {
        shapes.put(name + ".weight", new Shape(out, in));
        if (bias) {
            shapes.put(name + ".bias", new Shape(out));
        }
    }

    public long parameterCount() {
        return parameterShapes().values().stream().mapToLong(Shape::size).sum();
    }

    public static final String GENERATION_CONFIG_FILE = "generation_config.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * Reads a Hugging Face {@code config.json}, and the end-of-sequence ids of a sibling generation_config.json.
     * Defaults follow transformers where HF files commonly omit a field (num_key_value_heads, rope_theta,
     * tie_word_embeddings, head_dim, the biases); everything else must be present, and an architecture, rope type or
     * activation this runtime does not implement is refused by name instead of running as a different model.
     */
    public static LlamaConfig load(Path configJson) {
        Fields f = new Fields(configJson, readObject(configJson));
        Architecture architecture = architecture(f);
        f.require("hidden_act", "silu");
        int heads = f.positiveInt("num_attention_heads", null);
        List<Integer> eos = new ArrayList<>(f.tokenIds("eos_token_id", true));
        Path generation = configJson.resolveSibling(GENERATION_CONFIG_FILE);
        if (Files.exists(generation)) {
            for (int id : new Fields(generation, readObject(generation)).tokenIds("eos_token_id", false)) {
                if (!eos.contains(id)) {
                    eos.add(id);
                }
            }
        }
        Variant variant = new Variant(architecture, f.positiveInt("head_dim", 0), ropeScaling(f),
                f.bool("attention_bias", false), f.bool("mlp_bias", false), slidingWindow(architecture, f),
                eos.size() > 1 ? eos : List.of());
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
                f.tokenIds("bos_token_id", true).get(0),
                eos.get(0),
                variant);
        cfg.validate(configJson);
        return cfg;
    }

    /** {@code architectures[0]} decides, else {@code model_type}; neither (an old Llama file) means Llama. */
    private static Architecture architecture(Fields f) {
        JsonNode classes = f.root().get("architectures");
        if (classes != null && classes.isArray() && !classes.isEmpty()) {
            Architecture a = Architecture.ofClassName(classes.get(0).asText());
            if (a == null) {
                throw new BadInputException(f.file() + ": field 'architectures' is " + classes + "; supported: "
                        + Architecture.classNames());
            }
            return a;
        }
        JsonNode type = f.root().get("model_type");
        if (type == null || type.isNull()) {
            return Architecture.LLAMA;
        }
        Architecture a = Architecture.ofModelType(type.asText());
        if (a == null) {
            throw new BadInputException(f.file() + ": field 'model_type' is " + type + "; supported: "
                    + Architecture.modelTypes());
        }
        return a;
    }

    /** rope_scaling's {@code rope_type} (older files: {@code type}); {@code default} is no scaling. */
    private static RopeScaling ropeScaling(Fields f) {
        JsonNode node = f.root().get("rope_scaling");
        if (node == null || node.isNull()) {
            return null;
        }
        if (!node.isObject()) {
            throw new BadInputException(f.file() + ": field 'rope_scaling' must be an object or null, got " + node);
        }
        Fields s = new Fields(f.file(), (ObjectNode) node, "rope_scaling.");
        String key = node.has("rope_type") ? "rope_type" : "type";
        String type = node.path(key).asText("default");
        return switch (type) {
            case "default" -> null;
            case RopeScaling.LINEAR -> new RopeScaling(type, s.positiveDouble("factor", null), 0, 0, 0);
            case RopeScaling.LLAMA3 -> new RopeScaling(type, s.positiveDouble("factor", null),
                    s.positiveDouble("low_freq_factor", null), s.positiveDouble("high_freq_factor", null),
                    s.positiveInt("original_max_position_embeddings", null));
            default -> throw new BadInputException(f.file() + ": field 'rope_scaling." + key + "' is \"" + type
                    + "\"; supported: " + RopeScaling.LLAMA3 + ", " + RopeScaling.LINEAR + " (or no rope_scaling)");
        };
    }

    /** Mistral applies sliding_window when set; Qwen only when use_sliding_window is true; Llama never. */
    private static int slidingWindow(Architecture architecture, Fields f) {
        boolean applies = switch (architecture) {
            case MISTRAL -> true;
            case QWEN2, QWEN3 -> f.bool("use_sliding_window", false);
            case LLAMA -> false;
        };
        return applies ? f.positiveInt("sliding_window", 0) : 0;
    }

    /** A JSON object file, with one-line errors naming it (missing, not JSON, not an object). */
    static ObjectNode readObject(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (NoSuchFileException | FileNotFoundException e) {
            throw new BadInputException(file + ": file not found", e);
        } catch (JsonProcessingException e) {
            throw new BadInputException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        if (root == null || !root.isObject()) {
            throw new BadInputException(file + ": expected a JSON object");
        }
        return (ObjectNode) root;
    }

    /**
     * Writes a {@code config.json} that Hugging Face transformers loads as this architecture. A model read from a
     * release is saved by copying the release's own file instead (see {@link Checkpoint}), which keeps every field.
     */
    public void save(Path configJson) {
        validate(configJson);
        ObjectNode root = JSON.createObjectNode();
        root.putArray("architectures").add(variant.architecture().className());
        root.put("model_type", variant.architecture().modelType());
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
        if (variant.eosTokenIds().isEmpty()) {
            root.put("eos_token_id", eosTokenId);
        } else {
            variant.eosTokenIds().forEach(root.putArray("eos_token_id")::add);
        }
        root.put("hidden_act", "silu");
        root.put("torch_dtype", "float32");
        if (variant.headDim() > 0) {
            root.put("head_dim", variant.headDim());
        }
        if (variant.attentionBias()) {
            root.put("attention_bias", true);
        }
        if (variant.mlpBias()) {
            root.put("mlp_bias", true);
        }
        if (variant.slidingWindow() > 0) {
            root.put("sliding_window", variant.slidingWindow());
            if (variant.architecture() != Architecture.MISTRAL) {
                root.put("use_sliding_window", true);
            }
        }
        RopeScaling rope = variant.ropeScaling();
        if (rope != null) {
            ObjectNode scaling = root.putObject("rope_scaling").put("rope_type", rope.type()).put("factor", rope.factor());
            if (rope.type().equals(RopeScaling.LLAMA3)) {
                scaling.put("low_freq_factor", rope.lowFreqFactor()).put("high_freq_factor", rope.highFreqFactor())
                        .put("original_max_position_embeddings", rope.originalMaxPositionEmbeddings());
            }
        }
        try {
            AtomicFiles.writeBytes(configJson, JSON.writeValueAsBytes(root));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private void validate(Path where) {
        if (variant.headDim() == 0 && hiddenSize % numAttentionHeads != 0) {
            throw new BadInputException(where + ": 'hidden_size' (" + hiddenSize
                    + ") must be divisible by 'num_attention_heads' (" + numAttentionHeads + ")");
        }
        if (numAttentionHeads % numKeyValueHeads != 0) {
            throw new BadInputException(where + ": 'num_attention_heads' (" + numAttentionHeads
                    + ") must be divisible by 'num_key_value_heads' (" + numKeyValueHeads + ")");
        }
        if (bosTokenId >= vocabSize || eosTokenIds().stream().anyMatch(id -> id >= vocabSize)) {
            throw new BadInputException(where + ": 'bos_token_id' (" + bosTokenId + ") and 'eos_token_id' ("
                    + eosTokenIds() + ") must be below 'vocab_size' (" + vocabSize + ")");
        }
        if (headDim() % 2 != 0) {
            throw new BadInputException(where + ": the head size (" + headDim() + ") must be even for rotary embeddings");
        }
    }

    /** Typed access to config.json fields, with errors that name the file and the field ({@code prefix} + name). */
    private record Fields(Path file, ObjectNode root, String prefix) {

        Fields(Path file, ObjectNode root) {
            this(file, root, "");
        }

        /** {@code fallback == null} means the field is required. */
        JsonNode get(String name, Object fallback) {
            JsonNode node = root.get(name);
            if ((node == null || node.isNull()) && fallback == null) {
                throw new BadInputException(file + ": missing field '" + prefix + name + "'");
            }
            return node == null || node.isNull() ? null : node;
        }

        /** An optional text field that, when present, must be {@code expected}. */
        void require(String name, String expected) {
            JsonNode node = root.get(name);
            if (node != null && !node.isNull() && !expected.equals(node.asText())) {
                throw new BadInputException(file + ": field '" + prefix + name + "' is " + node + "; supported: \""
                        + expected + "\"");
            }
        }

        int positiveInt(String name, Integer fallback) {
            JsonNode node = get(name, fallback);
            if (node == null) {
                return fallback;
            }
            if (!node.canConvertToInt() || !node.isIntegralNumber() || node.intValue() <= 0) {
                throw new BadInputException(file + ": field '" + prefix + name + "' must be a positive integer, got "
                        + node);
            }
            return node.intValue();
        }

        double positiveDouble(String name, Double fallback) {
            JsonNode node = get(name, fallback);
            if (node == null) {
                return fallback;
            }
            if (!node.isNumber() || !(node.doubleValue() > 0)) {
                throw new BadInputException(file + ": field '" + prefix + name + "' must be a positive number, got "
                        + node);
            }
            return node.doubleValue();
        }

        boolean bool(String name, boolean fallback) {
            JsonNode node = get(name, fallback);
            if (node == null) {
                return fallback;
            }
            if (!node.isBoolean()) {
                throw new BadInputException(file + ": field '" + prefix + name + "' must be true or false, got " + node);
            }
            return node.booleanValue();
        }

        /** A token id or, as HF writes eos_token_id when generation may stop on several tokens, a list of them. */
        List<Integer> tokenIds(String name, boolean required) {
            JsonNode node = get(name, required ? null : Boolean.FALSE);
            if (node == null) {
                return List.of();
            }
            List<Integer> ids = new ArrayList<>();
            for (JsonNode id : node.isArray() ? node : List.of(node)) {
                if (!id.canConvertToInt() || !id.isIntegralNumber() || id.intValue() < 0) {
                    throw new BadInputException(file + ": field '" + prefix + name
                            + "' must be a token id (integer >= 0) or a list of them, got " + node);
                }
                ids.add(id.intValue());
            }
            if (ids.isEmpty()) {
                throw new BadInputException(file + ": field '" + prefix + name + "' is an empty list");
            }
            return ids;
        }
    }
}
