package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LlamaConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    static final LlamaConfig TINY = new LlamaConfig(300, 16, 40, 2, 4, 2, 64, 1e-5, 500000.0, false, 256, 257);

    @TempDir
    Path dir;

    @Test
    void roundTripsAndWritesHfMarkers() throws IOException {
        Path file = dir.resolve("config.json");
        TINY.save(file);
        assertEquals(TINY, LlamaConfig.load(file));

        JsonNode json = JSON.readTree(file.toFile());
        assertEquals("llama", json.get("model_type").asText());
        assertEquals("LlamaForCausalLM", json.get("architectures").get(0).asText());
        assertEquals("float32", json.get("torch_dtype").asText());
        assertEquals(16, json.get("hidden_size").asInt());
    }

    @Test
    void appliesHfDefaultsAndTakesFirstEosOfList() throws IOException {
        ObjectNode json = minimal();
        json.remove("num_key_value_heads");
        json.remove("rope_theta");
        json.remove("tie_word_embeddings");
        json.putArray("eos_token_id").add(2).add(7);
        LlamaConfig cfg = LlamaConfig.load(write(json));
        assertEquals(4, cfg.numKeyValueHeads());
        assertEquals(10000.0, cfg.ropeTheta());
        assertEquals(false, cfg.tieWordEmbeddings());
        assertEquals(2, cfg.eosTokenId());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "max_position_embeddings", "rms_norm_eps", "bos_token_id", "eos_token_id"})
    void missingRequiredFieldNamesFileAndField(String field) throws IOException {
        ObjectNode json = minimal();
        json.remove(field);
        Path file = write(json);
        BadInputException e = assertThrows(BadInputException.class, () -> LlamaConfig.load(file));
        assertEquals(file + ": missing field '" + field + "'", e.getMessage());
    }

    @Test
    void hiddenSizeMustDivideByHeads() throws IOException {
        ObjectNode json = minimal().put("hidden_size", 18);
        Path file = write(json);
        String msg = assertThrows(BadInputException.class, () -> LlamaConfig.load(file)).getMessage();
        assertTrue(msg.startsWith(file.toString()), msg);
        assertTrue(msg.contains("'hidden_size' (18)") && msg.contains("'num_attention_heads' (4)"), msg);
    }

    @Test
    void headsMustDivideByKvHeads() throws IOException {
        ObjectNode json = minimal().put("num_key_value_heads", 3);
        Path file = write(json);
        String msg = assertThrows(BadInputException.class, () -> LlamaConfig.load(file)).getMessage();
        assertTrue(msg.startsWith(file.toString()), msg);
        assertTrue(msg.contains("'num_attention_heads' (4)") && msg.contains("'num_key_value_heads' (3)"), msg);
    }

    @Test
    void wrongTypeNamesField() throws IOException {
        Path file = write(minimal().put("hidden_size", "sixteen"));
        String msg = assertThrows(BadInputException.class, () -> LlamaConfig.load(file)).getMessage();
        assertTrue(msg.startsWith(file + ": field 'hidden_size'"), msg);
    }

    @Test
    void missingFileNamesFile() {
        Path file = dir.resolve("nope.json");
        String msg = assertThrows(BadInputException.class, () -> LlamaConfig.load(file)).getMessage();
        assertTrue(msg.startsWith(file.toString()), msg);
    }

    @Test
    void otherArchitecturesAreRefusedByName() throws IOException {
        ObjectNode json = minimal();
        json.putArray("architectures").add("GPT2LMHeadModel");
        Path file = write(json);
        String msg = assertThrows(BadInputException.class, () -> LlamaConfig.load(file)).getMessage();
        assertEquals(file + ": field 'architectures' is [\"GPT2LMHeadModel\"]; supported: [LlamaForCausalLM,"
                + " MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM]", msg);
        ObjectNode gemma = minimal().put("model_type", "gemma");
        String byType = assertThrows(BadInputException.class, () -> LlamaConfig.load(write(gemma))).getMessage();
        assertTrue(byType.contains("field 'model_type' is \"gemma\"; supported: [llama, mistral, qwen2, qwen3]"), byType);
    }

    @Test
    void otherRopeTypesAreRefusedByName() throws IOException {
        ObjectNode json = minimal();
        json.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0);
        Path file = write(json);
        String msg = assertThrows(BadInputException.class, () -> LlamaConfig.load(file)).getMessage();
        assertEquals(file + ": field 'rope_scaling.rope_type' is \"yarn\"; supported: llama3, linear (or no"
                + " rope_scaling)", msg);
        json.putObject("rope_scaling").put("type", "linear");
        String missing = assertThrows(BadInputException.class, () -> LlamaConfig.load(write(json))).getMessage();
        assertEquals(file + ": missing field 'rope_scaling.factor'", missing);
    }

    @Test
    void releaseDetailsAreRead() throws IOException {
        ObjectNode json = minimal().put("head_dim", 8).put("attention_bias", true).put("mlp_bias", true);
        json.putArray("architectures").add("LlamaForCausalLM");
        json.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        json.putArray("eos_token_id").add(2).add(5);
        Path file = write(json);
        Files.writeString(dir.resolve("generation_config.json"), "{\"eos_token_id\": [5, 7]}");
        LlamaConfig cfg = LlamaConfig.load(file);
        assertEquals(8, cfg.headDim());
        assertEquals(java.util.List.of(2, 5, 7), cfg.eosTokenIds(), "config's ids, then generation_config's new ones");
        assertEquals(new RopeScaling("llama3", 8, 1, 4, 8192), cfg.variant().ropeScaling());
        assertEquals(new Shape(4 * 8, 16), cfg.parameterShapes().get("model.layers.0.self_attn.q_proj.weight"));
        assertEquals(new Shape(16), cfg.parameterShapes().get("model.layers.0.self_attn.o_proj.bias"));
        assertEquals(new Shape(40), cfg.parameterShapes().get("model.layers.1.mlp.up_proj.bias"));
        cfg.save(dir.resolve("again.json"));
        Files.delete(dir.resolve("generation_config.json"));
        assertEquals(cfg, LlamaConfig.load(dir.resolve("again.json")), "what save writes, load reads back");
    }

    @Test
    void qwenFamiliesHaveTheirOwnParameters() throws IOException {
        ObjectNode qwen2 = minimal().put("model_type", "qwen2").put("sliding_window", 16).put("use_sliding_window", false);
        LlamaConfig q2 = LlamaConfig.load(write(qwen2));
        assertEquals(64, q2.context(), "use_sliding_window false: no window");
        assertTrue(q2.parameterShapes().containsKey("model.layers.0.self_attn.k_proj.bias"));
        assertTrue(!q2.parameterShapes().containsKey("model.layers.0.self_attn.o_proj.bias"));
        ObjectNode qwen3 = minimal().put("model_type", "qwen3").put("head_dim", 8);
        LlamaConfig q3 = LlamaConfig.load(write(qwen3));
        assertEquals(new Shape(8), q3.parameterShapes().get("model.layers.1.self_attn.k_norm.weight"));
        ObjectNode mistral = minimal().put("model_type", "mistral").put("sliding_window", 16);
        assertEquals(16, LlamaConfig.load(write(mistral)).context());
    }

    /** A config as transformers writes it for a small Llama, with a field we do not read. */
    private ObjectNode minimal() {
        ObjectNode json = JSON.createObjectNode();
        json.put("vocab_size", 300).put("hidden_size", 16).put("intermediate_size", 40)
                .put("num_hidden_layers", 2).put("num_attention_heads", 4).put("num_key_value_heads", 2)
                .put("max_position_embeddings", 64).put("rms_norm_eps", 1e-5).put("rope_theta", 10000.0)
                .put("tie_word_embeddings", true).put("bos_token_id", 1).put("eos_token_id", 2)
                .put("hidden_act", "silu");
        return json;
    }

    private Path write(JsonNode json) throws IOException {
        Path file = dir.resolve("config.json");
        Files.write(file, JSON.writeValueAsBytes(json));
        return file;
    }
}
