package dev.dice.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.HfTokenizer;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.ModelFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dice random-model}: a model directory laid out exactly like a release (its config.json with every field,
 * generation_config.json, the tokenizer files, weights in the config's torch_dtype, sharded with an index), holding
 * random weights, optionally at a smaller width. It lets a user try the whole system on a release's layout, stop
 * tokens and chat template without downloading the weights.
 */
@Command(name = "random-model", mixinStandardHelpOptions = true,
        description = "Write a Hugging Face model directory with random weights from a release's config.json"
                + " (optionally narrower), its generation_config.json and tokenizer files.")
final class RandomModelCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Option(names = "--config", required = true, description = "The release's config.json.")
    Path config;

    @Option(names = "--generation-config", description = "The release's generation_config.json.")
    Path generationConfig;

    @Option(names = "--tokenizer", description = "Directory with the release's tokenizer.json (and tokenizer_config.json).")
    Path tokenizer;

    @Option(names = "--out", required = true, description = "The directory to write.")
    Path out;

    @Option(names = "--set", split = ",", paramLabel = "FIELD=VALUE",
            description = "Overrides of integer config.json fields, e.g. hidden_size=64,num_hidden_layers=2.")
    Map<String, Integer> overrides = new LinkedHashMap<>();

    @Option(names = "--shards", defaultValue = "2", description = "Weight files (default ${DEFAULT-VALUE}).")
    int shards;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random weights.")
    long seed;

    @Option(names = "--end-turn-every", defaultValue = "0", paramLabel = "N",
            description = "Make the model end its turn with the chat template's end-of-turn token after about N tokens"
                    + " at --temperature (random weights never would; for trying a run's plumbing). Needs --tokenizer.")
    int endTurnEvery;

    @Option(names = "--temperature", defaultValue = "0.7",
            description = "The sampling temperature --end-turn-every is for (default ${DEFAULT-VALUE}, the rounds').")
    double temperature;

    @Override
    public Integer call() throws IOException {
        JsonNode release = JSON.readTree(config.toFile());
        if (!(release instanceof ObjectNode json)) {
            throw new BadInputException(config + ": expected a JSON object");
        }
        overrides.forEach(json::put);
        Files.createDirectories(out);
        Path written = out.resolve(Checkpoint.CONFIG_FILE);
        Files.write(written, JSON.writeValueAsBytes(json));
        if (generationConfig != null) {
            Files.copy(generationConfig, out.resolve(LlamaConfig.GENERATION_CONFIG_FILE));
        }
        if (tokenizer != null) {
            try (HfTokenizer t = HfTokenizer.load(tokenizer)) {
                for (Path file : t.files()) {
                    Files.copy(file, out.resolve(file.getFileName()));
                }
            }
        }
        LlamaConfig parsed = LlamaConfig.load(written);
        ModelFiles files = ModelFiles.of(out, List.of());
        try (NDManager root = NDManager.newBaseManager(Device.cpu());
                Llama model = Llama.init(parsed, root.newSubManager(), seed)) {
            if (endTurnEvery > 0) {
                if (tokenizer == null) {
                    throw new BadInputException("--end-turn-every needs --tokenizer (its end-of-turn token)");
                }
                try (HfTokenizer t = HfTokenizer.load(tokenizer)) {
                    EndOfTurnBias.apply(model, t.endOfTurnId(), endTurnEvery, temperature);
                }
            }
            Checkpoint.saveShards(out, model.parameters(), files.dtype(), shards);
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        System.out.println(out + ": " + parsed.variant().architecture().className() + ", " + parsed.parameterCount()
                + " parameters in " + files.dtype() + ", " + shards + " shard(s)");
        return 0;
    }
}
