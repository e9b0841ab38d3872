package dev.dice.cli;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.HfTokenizer;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dice logprobs}: each position's log-probability of the next token under a checkpoint, as JSON, so an imported
 * model can be checked against transformers on the same token ids (docs/models.md has the Python for that side).
 */
@Command(name = "logprobs", mixinStandardHelpOptions = true,
        description = "Print, as JSON, the token ids of --text (or --tokens) and, for each position i, log p(token[i+1]"
                + " | tokens[0..i]) under the model in --model.")
final class LogprobsCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory.")
    Path model;

    @Option(names = "--tokenizer", description = "Directory or tokenizer.json for --text (default: --model's).")
    Path tokenizer;

    @ArgGroup(multiplicity = "1")
    Input input;

    static final class Input {
        @Option(names = "--text", description = "Text, tokenized without adding special tokens.")
        String text;

        @Option(names = "--tokens", split = ",", description = "Token ids, comma-separated.")
        int[] tokens;
    }

    @Override
    public Integer call() {
        int[] ids = input.tokens != null ? input.tokens : encode(input.text);
        if (ids.length < 2) {
            throw new BadInputException("logprobs: need at least 2 tokens, got " + ids.length);
        }
        LlamaConfig config = LlamaConfig.load(model.resolve(Checkpoint.CONFIG_FILE));
        for (int id : ids) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new BadInputException("--tokens: id " + id + " is outside the vocabulary (vocab_size "
                        + config.vocabSize() + ")");
            }
        }
        if (ids.length > config.context()) {
            throw new BadInputException("logprobs: " + ids.length + " tokens exceed the model's context of "
                    + config.context());
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("model", model.toString());
        out.put("tokens", ids);
        out.put("next_token_logprobs", nextTokenLogProbs(config, ids));
        System.out.println(Json.write(out));
        return 0;
    }

    private int[] encode(String text) {
        Path source = tokenizer != null ? tokenizer : model;
        if (Files.isDirectory(source) && !Files.exists(source.resolve(HfTokenizer.TOKENIZER_FILE))) {
            throw new BadInputException(source + ": no " + HfTokenizer.TOKENIZER_FILE + " (give --tokenizer or --tokens)");
        }
        try (HfTokenizer t = HfTokenizer.load(source)) {
            return t.encode(text);
        }
    }

    private double[] nextTokenLogProbs(LlamaConfig config, int[] ids) {
        try (NDManager root = NDManager.newBaseManager(Device.cpu());
                Llama llama = Llama.of(config, root.newSubManager(), Checkpoint.loadModel(model, config, root))) {
            return llama.nextTokenLogProbs(ids);
        }
    }
}
