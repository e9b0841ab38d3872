package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model directory in the Hugging Face layout: {@code config.json} plus {@code model.safetensors}, or
 * shards listed by {@code model.safetensors.index.json}. What we write, transformers can load, and the
 * other way round for Llama-family checkpoints.
 */
public final class Checkpoint {

    public static final String CONFIG_FILE = "config.json";
    public static final String WEIGHTS_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";

    private static final Logger log = LoggerFactory.getLogger(Checkpoint.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Checkpoint() {}

    /** Writes a model built here: float32 weights and a config.json written from {@code cfg}. */
    public static void saveModel(Path dir, LlamaConfig cfg, Map<String, NDArray> params) {
        saveModel(dir, cfg, params, ModelFiles.BUILT_HERE);
    }

    /**
     * Writes weights in {@code files}' dtype, then the files that travel with them, config last, so a directory with
     * a config always has its weights.
     */
    public static void saveModel(Path dir, LlamaConfig cfg, Map<String, NDArray> params, ModelFiles files) {
        Map<String, Shape> expected = cfg.parameterShapes();
        for (Map.Entry<String, Shape> e : expected.entrySet()) {
            NDArray p = params.get(e.getKey());
            if (p == null || !p.getShape().equals(e.getValue())) {
                throw new IllegalArgumentException("parameter '" + e.getKey() + "' is "
                        + (p == null ? "missing" : "shaped " + p.getShape()) + ", config expects " + e.getValue());
            }
        }
        for (String name : params.keySet()) {
            if (!expected.containsKey(name)) {
                throw new IllegalArgumentException("parameter '" + name + "' is not part of the configured model");
            }
        }
        SafeTensors.write(dir.resolve(WEIGHTS_FILE), params, files.dtype());
        files.writeBesideWeights(dir, cfg);
    }

    /**
     * Writes weights as a release lays them out: {@code shards} files named {@code model-0000i-of-0000n.safetensors},
     * each holding whole tensors in name order, and {@code model.safetensors.index.json} mapping names to files (one
     * shard: a single {@code model.safetensors}).
     */
    public static void saveShards(Path dir, Map<String, NDArray> params, SafeTensors.Dtype dtype, int shards) {
        if (shards <= 1) {
            SafeTensors.write(dir.resolve(WEIGHTS_FILE), params, dtype);
            return;
        }
        List<String> names = new ArrayList<>(new TreeMap<>(params).keySet());
        long total = params.values().stream().mapToLong(p -> p.size() * dtype.bytes).sum();
        com.fasterxml.jackson.databind.node.ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        com.fasterxml.jackson.databind.node.ObjectNode weightMap = index.putObject("weight_map");
        long perShard = (total + shards - 1) / shards;
        int shard = 0;
        long filled = 0;
        Map<String, NDArray> current = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) {
            NDArray p = params.get(names.get(i));
            current.put(names.get(i), p);
            filled += p.size() * dtype.bytes;
            boolean last = i == names.size() - 1;
            if (last || (filled >= perShard * (shard + 1) && shard < shards - 1)) {
                String file = String.format("model-%05d-of-%05d.safetensors", shard + 1, shards);
                SafeTensors.write(dir.resolve(file), current, dtype);
                current.keySet().forEach(name -> weightMap.put(name, file));
                current = new LinkedHashMap<>();
                shard++;
            }
        }
        if (shard != shards) {
            throw new IllegalArgumentException(shards + " shards asked for, but " + params.size() + " tensors fill only "
                    + shard);
        }
        writeJson(dir.resolve(INDEX_FILE), index);
    }

    /**
     * Loads exactly the parameters {@code cfg} describes, in {@link LlamaConfig#parameterShapes()} order,
     * as float32 arrays owned by {@code manager}. Names and shapes are checked against the headers before
     * any data is read. Tensors HF keeps but we do not need (rotary inv_freq buffers, a tied lm_head) are
     * skipped; any other unknown tensor is refused, because it means the config does not match the
     * weights (e.g. 2 layers configured, 4 stored) and loading a subset would go unnoticed.
     */
    public static Map<String, NDArray> loadModel(Path dir, LlamaConfig cfg, NDManager manager) {
        Map<String, Shape> expected = cfg.parameterShapes();
        try (WeightFiles files = WeightFiles.open(dir)) {
            check(files, cfg);
            Map<String, NDArray> params = new LinkedHashMap<>();
            // Loaded into a child manager so a failure halfway frees what was already loaded.
            try (NDManager loading = manager.newSubManager()) {
                for (String name : expected.keySet()) {
                    params.put(name, files.load(name, loading));
                }
                params.values().forEach(p -> p.attach(manager));
            }
            return params;
        }
    }

    /**
     * Checks the weights in {@code dir} against {@code cfg} as {@link #loadModel} does, from the files' headers alone
     * (no tensor data is read, so it takes milliseconds for any size): every parameter there with its shape, no tensor
     * the config does not describe, no file cut short. Throws {@link BadInputException} naming the file and tensor.
     */
    public static void check(Path dir, LlamaConfig cfg) {
        try (WeightFiles files = WeightFiles.open(dir)) {
            check(files, cfg);
        }
    }

    private static void check(WeightFiles files, LlamaConfig cfg) {
        Map<String, Shape> expected = cfg.parameterShapes();
        for (Map.Entry<String, Shape> e : expected.entrySet()) {
            SafeTensors.Entry stored = files.entry(e.getKey());
            if (!stored.shape().equals(e.getValue())) {
                throw new BadInputException(files.fileOf(e.getKey()) + ": tensor '" + e.getKey() + "' has shape "
                        + stored.shape() + ", expected " + e.getValue() + " from the config");
            }
        }
        for (String name : files.names()) {
            if (!expected.containsKey(name)) {
                skipExtra(files.fileOf(name), name, cfg);
            }
        }
    }

    private static void skipExtra(Path file, String name, LlamaConfig cfg) {
        if (name.endsWith(".rotary_emb.inv_freq")) {
            log.debug("{}: ignoring '{}' (recomputed from rope_theta)", file, name);
        } else if (name.equals("lm_head.weight") && cfg.tieWordEmbeddings()) {
            log.debug("{}: ignoring '{}' (tie_word_embeddings: the embedding is the output layer)", file, name);
        } else {
            throw new BadInputException(file + ": tensor '" + name + "' is not part of the model the config describes"
                    + " (num_hidden_layers=" + cfg.numHiddenLayers() + ", tie_word_embeddings="
                    + cfg.tieWordEmbeddings() + ")");
        }
    }

    /** Any set of float tensors (optimizer moments, EMA weights) in one safetensors file. */
    public static void saveTensors(Path file, Map<String, NDArray> tensors) {
        SafeTensors.write(file, tensors);
    }

    public static Map<String, NDArray> loadTensors(Path file, NDManager manager) {
        return SafeTensors.read(file, manager);
    }

    /** Small state files (trainer_state.json): any Jackson-serializable value, records included. */
    public static void writeJson(Path file, Object value) {
        try {
            AtomicFiles.writeBytes(file, JSON.writeValueAsBytes(value));
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot serialize " + value.getClass().getName() + " to JSON", e);
        }
    }

    public static <T> T readJson(Path file, Class<T> type) {
        try {
            return JSON.readValue(file.toFile(), type);
        } catch (FileNotFoundException | NoSuchFileException e) {
            throw new BadInputException(file + ": file not found", e);
        } catch (JsonProcessingException e) {
            throw new BadInputException(file + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** The tensor name to file mapping of one model directory, single-file or sharded. */
    private static final class WeightFiles implements AutoCloseable {
        private final Path listing; // the file that promised each name: the weights file or the index
        private final Map<String, Path> fileOf;
        private final Map<Path, SafeTensors> opened = new HashMap<>();

        private WeightFiles(Path listing, Map<String, Path> fileOf) {
            this.listing = listing;
            this.fileOf = fileOf;
        }

        static WeightFiles open(Path dir) {
            Path single = dir.resolve(WEIGHTS_FILE);
            Path index = dir.resolve(INDEX_FILE);
            if (Files.exists(single)) {
                WeightFiles files = new WeightFiles(single, new TreeMap<>());
                for (String name : files.safetensors(single).names()) {
                    files.fileOf.put(name, single);
                }
                return files;
            }
            if (Files.exists(index)) {
                return new WeightFiles(index, readIndex(index));
            }
            throw new BadInputException(dir + ": no " + WEIGHTS_FILE + " or " + INDEX_FILE);
        }

        private static Map<String, Path> readIndex(Path index) {
            JsonNode weightMap = readJson(index, JsonNode.class).get("weight_map");
            if (weightMap == null || !weightMap.isObject()) {
                throw new BadInputException(index + ": missing field 'weight_map'");
            }
            Map<String, Path> fileOf = new TreeMap<>();
            List<String> bad = new ArrayList<>();
            weightMap.fields().forEachRemaining(e -> {
                if (e.getValue().isTextual()) {
                    fileOf.put(e.getKey(), index.resolveSibling(e.getValue().asText()));
                } else {
                    bad.add(e.getKey());
                }
            });
            if (!bad.isEmpty()) {
                throw new BadInputException(index + ": field 'weight_map' must map names to file names; bad entries " + bad);
            }
            return fileOf;
        }

        Iterable<String> names() {
            return fileOf.keySet();
        }

        Path fileOf(String name) {
            Path file = fileOf.get(name);
            if (file == null) {
                throw new BadInputException(listing + ": missing tensor '" + name + "'");
            }
            return file;
        }

        SafeTensors.Entry entry(String name) {
            SafeTensors file = safetensors(fileOf(name));
            if (!file.contains(name)) {
                throw new BadInputException(file.file() + ": missing tensor '" + name + "' (listed in " + listing + ")");
            }
            return file.entry(name);
        }

        NDArray load(String name, NDManager manager) {
            return safetensors(fileOf(name)).load(name, manager);
        }

        private SafeTensors safetensors(Path file) {
            return opened.computeIfAbsent(file, SafeTensors::open);
        }

        @Override
        public void close() {
            opened.values().forEach(SafeTensors::close);
        }
    }
}
