package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * What a Hugging Face model directory holds besides the weights, carried from the directory a model was loaded
 * from to every directory it is saved to: its own config.json (every field kept, known or not), generation_config.json,
 * the tokenizer's files, and the dtype its weights were released in. A saved stage is then a model transformers
 * loads as the same architecture with the same stop tokens and chat template.
 *
 * @param config      the release's config.json, or null for a model built here (its config is written from fields)
 * @param passthrough files copied as they are (generation_config.json, tokenizer files)
 * @param dtype       the dtype weights are written in: the release's torch_dtype
 */
public record ModelFiles(Path config, List<Path> passthrough, SafeTensors.Dtype dtype) {

    /** A model built here: config written from its fields, float32 weights, nothing else. */
    public static final ModelFiles BUILT_HERE = new ModelFiles(null, List.of(), SafeTensors.Dtype.F32);

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public ModelFiles {
        passthrough = List.copyOf(passthrough);
    }

    /** The files of the model in {@code dir}, with {@code tokenizerFiles} (which may live elsewhere). */
    public static ModelFiles of(Path dir, Collection<Path> tokenizerFiles) {
        Path config = dir.resolve(Checkpoint.CONFIG_FILE);
        List<Path> passthrough = new ArrayList<>();
        Path generation = dir.resolve(LlamaConfig.GENERATION_CONFIG_FILE);
        if (Files.exists(generation)) {
            passthrough.add(generation);
        }
        passthrough.addAll(tokenizerFiles);
        return new ModelFiles(config, passthrough, dtypeOf(config));
    }

    /** As {@code torch_dtype} names it; float32 when absent. */
    static SafeTensors.Dtype dtypeOf(Path configJson) {
        String name = LlamaConfig.readObject(configJson).path("torch_dtype").asText("float32");
        for (SafeTensors.Dtype dtype : SafeTensors.Dtype.values()) {
            if (dtype.torchName.equals(name)) {
                return dtype;
            }
        }
        throw new BadInputException(configJson + ": field 'torch_dtype' is \"" + name
                + "\"; supported: bfloat16, float16, float32");
    }

    /** The size of the weights a model of {@code cfg} is saved with, in {@link #dtype}: what one checkpoint needs. */
    public long weightsBytes(LlamaConfig cfg) {
        return cfg.parameterCount() * dtype.bytes;
    }

    /** The same files, weights written as float32 (the user's choice when they want full precision out). */
    public ModelFiles withFloat32() {
        return new ModelFiles(config, passthrough, SafeTensors.Dtype.F32);
    }

    /**
     * Rounds {@code params} in place to {@link #dtype} (round to nearest even, as torch's {@code .to()}), so the
     * weights a trainer keeps and publishes are exactly the ones it writes.
     */
    public void roundInPlace(Collection<NDArray> params) {
        for (NDArray p : params) {
            switch (dtype) {
                case F32 -> { }
                case F16 -> p.set(p.toType(DataType.FLOAT16, false).toType(DataType.FLOAT32, false).toFloatArray());
                case BF16 -> {
                    float[] values = p.toFloatArray();
                    for (int i = 0; i < values.length; i++) {
                        values[i] = Float.intBitsToFloat(SafeTensors.bf16Bits(values[i]) << 16);
                    }
                    p.set(values);
                }
            }
        }
    }

    /** Writes config.json (the release's, with torch_dtype as written) and copies the other files into {@code dir}. */
    void writeBesideWeights(Path dir, LlamaConfig cfg) {
        try {
            for (Path file : passthrough) {
                Path target = dir.resolve(file.getFileName());
                if (!Files.isSameFile(file.getParent(), dir)) {
                    AtomicFiles.writeBytes(target, Files.readAllBytes(file));
                }
            }
            if (config == null) {
                cfg.save(dir.resolve(Checkpoint.CONFIG_FILE));
                return;
            }
            if (dtypeOf(config) != dtype) {
                ObjectNode root = LlamaConfig.readObject(config);
                root.put("torch_dtype", dtype.torchName);
                AtomicFiles.writeBytes(dir.resolve(Checkpoint.CONFIG_FILE), JSON.writeValueAsBytes(root));
            } else if (!Files.isSameFile(config.getParent(), dir)) {
                AtomicFiles.writeBytes(dir.resolve(Checkpoint.CONFIG_FILE), Files.readAllBytes(config));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the model files of " + dir, e);
        }
    }
}
