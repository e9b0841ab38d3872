package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model read from a release directory and saved again is the same release: config.json (unknown keys, rope_scaling,
 * the eos list), generation_config.json and the tokenizer files byte for byte, every tensor bit for bit, in the
 * release's dtype; as float32 only torch_dtype changes.
 */
class ReleaseRoundTripTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String CONFIG = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 40, "hidden_size": 16,
             "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
             "head_dim": 16, "max_position_embeddings": 64, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 32},
             "attention_bias": true, "mlp_bias": false, "tie_word_embeddings": false, "bos_token_id": 1,
             "eos_token_id": [2, 3], "hidden_act": "silu", "torch_dtype": "bfloat16", "pretraining_tp": 1,
             "some_future_field": {"kept": [1, 2]}}
            """;

    @TempDir
    Path dir;
    NDManager manager;

    @BeforeEach
    void open() {
        manager = NDManager.newBaseManager();
    }

    @AfterEach
    void close() {
        manager.close();
    }

    @Test
    void aReleaseSavesAsTheSameRelease() throws IOException {
        Path release = release();
        Path out = Files.createDirectories(dir.resolve("out"));
        LlamaConfig cfg = LlamaConfig.load(release.resolve(Checkpoint.CONFIG_FILE));
        Map<String, NDArray> params = Checkpoint.loadModel(release, cfg, manager);
        ModelFiles files = ModelFiles.of(release, List.of(release.resolve("tokenizer.json")));
        assertEquals(SafeTensors.Dtype.BF16, files.dtype());
        Map<String, float[]> before = values(params);
        files.roundInPlace(params.values());
        assertEquals(before.keySet(), values(params).keySet());
        before.forEach((name, v) -> assertArrayEquals(v, values(params).get(name), "bf16 values stay put: " + name));

        Checkpoint.saveModel(out, cfg, params, files);
        for (String file : List.of("config.json", "generation_config.json", "tokenizer.json")) {
            assertArrayEquals(Files.readAllBytes(release.resolve(file)), Files.readAllBytes(out.resolve(file)), file);
        }
        assertEquals("BF16", SafeTensors.open(out.resolve(Checkpoint.WEIGHTS_FILE))
                .entry("model.layers.0.self_attn.q_proj.bias").dtype());
        assertEquals(cfg, LlamaConfig.load(out.resolve(Checkpoint.CONFIG_FILE)));
        Map<String, NDArray> again = Checkpoint.loadModel(out, cfg, manager);
        before.forEach((name, v) -> assertArrayEquals(v, again.get(name).toFloatArray(), name));

        Path wide = Files.createDirectories(dir.resolve("f32"));
        Checkpoint.saveModel(wide, cfg, params, files.withFloat32());
        ObjectNode expected = (ObjectNode) JSON.readTree(release.resolve("config.json").toFile());
        expected.put("torch_dtype", "float32");
        assertEquals(expected, JSON.readTree(wide.resolve("config.json").toFile()));
        Map<String, NDArray> widened = Checkpoint.loadModel(wide, cfg, manager);
        before.forEach((name, v) -> assertArrayEquals(v, widened.get(name).toFloatArray(), name));
    }

    @Test
    void bfloat16RoundsToNearestEven() {
        assertEquals(0x3F80, SafeTensors.bf16Bits(1.0f));
        assertEquals(0x3F80, SafeTensors.bf16Bits(Float.intBitsToFloat(0x3F808000)), "a tie goes to the even 1.0");
        assertEquals(0x3F82, SafeTensors.bf16Bits(Float.intBitsToFloat(0x3F818000)), "a tie goes to the even 0x3F82");
        assertEquals(0x3F81, SafeTensors.bf16Bits(Float.intBitsToFloat(0x3F808001)), "above the tie rounds up");
        assertEquals(true, Float.isNaN(Float.intBitsToFloat(SafeTensors.bf16Bits(Float.NaN) << 16)));
    }

    /** A release as its publisher lays it out: bf16 shards with an index, generation config, tokenizer file. */
    private Path release() throws IOException {
        Path release = Files.createDirectories(dir.resolve("release"));
        JsonNode config = JSON.readTree(CONFIG);
        Files.write(release.resolve("config.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config));
        Files.writeString(release.resolve("generation_config.json"), "{\"eos_token_id\": [2, 3], \"top_p\": 0.9}\n");
        Files.writeString(release.resolve("tokenizer.json"), "{\"stands\": \"for the release's tokenizer\"}\n");
        LlamaConfig cfg = LlamaConfig.load(release.resolve("config.json"));
        try (Llama model = Llama.init(cfg, manager.newSubManager(), 9)) {
            Checkpoint.saveShards(release, model.parameters(), SafeTensors.Dtype.BF16, 2);
        }
        return release;
    }

    private static Map<String, float[]> values(Map<String, NDArray> params) {
        Map<String, float[]> out = new java.util.TreeMap<>();
        params.forEach((name, p) -> out.put(name, p.toFloatArray()));
        return out;
    }
}
