package dev.dice.gpu;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.gpu.chat.ChatMessage;
import dev.dice.gpu.chat.ChatTemplate;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A Hugging Face {@code tokenizer.json} run by DJL's bindings to the Rust tokenizers library.
 *
 * <p>DJL's defaults are wrong for training data: it truncates to 512 tokens, pads batches and adds
 * special tokens. All three are switched off; callers add BOS/EOS themselves. DJL exposes neither the
 * vocabulary size nor token-to-id lookups, so both come from parsing the JSON here.
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {

    public static final String TOKENIZER_FILE = "tokenizer.json";
    public static final String TOKENIZER_CONFIG_FILE = "tokenizer_config.json";

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Files a release keeps beside tokenizer.json that transformers reads with it. */
    private static final List<String> SIBLING_FILES = List.of(TOKENIZER_CONFIG_FILE, "special_tokens_map.json",
            "tokenizer.model");
    private static final List<String> BOS_CANDIDATES = List.of("<s>", "<|begin_of_text|>", "<|endoftext|>");
    private static final List<String> EOS_CANDIDATES = List.of("</s>", "<|end_of_text|>", "<|endoftext|>");

    private final HuggingFaceTokenizer tokenizer;
    private final List<Path> files;
    private final int vocabSize;
    private final int bosId;
    private final int eosId;
    private final int padId;
    private final Optional<ChatTemplate> chatTemplate;
    private final int endOfTurnId;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, List<Path> files, int vocabSize, int bosId, int eosId,
            int padId, Optional<ChatTemplate> chatTemplate) {
        this.tokenizer = tokenizer;
        this.files = List.copyOf(files);
        this.chatTemplate = chatTemplate;
        this.vocabSize = vocabSize;
        this.bosId = bosId;
        this.eosId = eosId;
        this.padId = padId;
        this.endOfTurnId = chatTemplate.map(this::endOfTurn).orElse(eosId);
    }

    /**
     * Loads {@code tokenizer.json} (given directly, or inside a model directory). Special tokens come from a
     * sibling {@code tokenizer_config.json} when it names them, else from the usual spellings
     * ({@code <s>}, {@code </s>}, ...); PAD defaults to EOS, as for Llama. The chat template, when
     * tokenizer_config.json has one, is parsed here too, so a broken template stops the run before it starts.
     */
    public static HfTokenizer load(Path dirOrFile) {
        Path file = Files.isDirectory(dirOrFile) ? dirOrFile.resolve(TOKENIZER_FILE) : dirOrFile;
        Map<String, Integer> ids = tokenIds(file, readTree(file));
        int vocabSize = ids.values().stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        if (vocabSize == 0) {
            throw new BadInputException(file + ": no tokens in 'model.vocab' or 'added_tokens'");
        }
        Path configFile = file.resolveSibling(TOKENIZER_CONFIG_FILE);
        JsonNode config = Files.exists(configFile) ? readTree(configFile) : JSON.createObjectNode();
        int bos = specialId(ids, file, configFile, config, "bos_token", BOS_CANDIDATES);
        int eos = specialId(ids, file, configFile, config, "eos_token", EOS_CANDIDATES);
        Integer pad = namedId(ids, file, configFile, config, "pad_token");
        Optional<ChatTemplate> template = Files.exists(configFile) ? ChatTemplate.fromTokenizerConfig(configFile)
                : Optional.empty();
        try {
            HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            List<Path> files = new java.util.ArrayList<>(List.of(file));
            for (String sibling : SIBLING_FILES) {
                if (Files.isRegularFile(file.resolveSibling(sibling))) {
                    files.add(file.resolveSibling(sibling));
                }
            }
            return new HfTokenizer(tokenizer, files, vocabSize, bos, eos, pad == null ? eos : pad, template);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        } catch (BadInputException e) {
            throw e;
        } catch (RuntimeException e) {
            // The Rust side reports a malformed file as a bare RuntimeException.
            throw new BadInputException(file + ": not a usable tokenizer: " + e.getMessage(), e);
        }
    }

    @Override
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    @Override
    public String decode(int[] ids) {
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            longs[i] = ids[i];
        }
        return tokenizer.decode(longs, true);
    }

    /** The same tokenizer with prompts in the plain format (the run's choice when it does not want the template). */
    public HfTokenizer withoutChatTemplate() {
        return new HfTokenizer(tokenizer, files, vocabSize, bosId, eosId, padId, Optional.empty());
    }

    @Override
    public Optional<ChatTemplate> chatTemplate() {
        return chatTemplate;
    }

    @Override
    public int endOfTurnId() {
        return endOfTurnId;
    }

    /**
     * The token the template closes an assistant turn with ({@code <|eot_id|>}, {@code <|im_end|>}, {@code </s>}):
     * the first token after the assistant's text in a rendered exchange.
     */
    private int endOfTurn(ChatTemplate template) {
        String mark = "\u2063end-of-turn probe\u2063";
        String rendered = template.render(List.of(new ChatMessage("user", "Hi"), new ChatMessage("assistant", mark)),
                false);
        int at = rendered.lastIndexOf(mark);
        int[] after = at < 0 ? new int[0] : encode(rendered.substring(at + mark.length()));
        return after.length > 0 ? after[0] : eosId;
    }

    @Override
    public String tokenText(int id) {
        return tokenizer.decode(new long[] {id}, false);
    }

    @Override
    public List<Path> files() {
        return files;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public int bosId() {
        return bosId;
    }

    @Override
    public int eosId() {
        return eosId;
    }

    @Override
    public int padId() {
        return padId;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    private static JsonNode readTree(Path file) {
        if (!Files.exists(file)) {
            throw new BadInputException(file + ": file not found");
        }
        try {
            JsonNode tree = JSON.readTree(file.toFile());
            if (tree == null || !tree.isObject()) {
                throw new BadInputException(file + ": expected a JSON object");
            }
            return tree;
        } catch (JsonProcessingException e) {
            throw new BadInputException(file + ": not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** Token text to id: the model's vocabulary plus added tokens (where the specials usually live). */
    private static Map<String, Integer> tokenIds(Path file, JsonNode root) {
        Map<String, Integer> ids = new HashMap<>();
        JsonNode vocab = root.path("model").path("vocab");
        if (vocab.isObject()) { // BPE, WordLevel, WordPiece: {"token": id}
            vocab.fields().forEachRemaining(e -> ids.put(e.getKey(), e.getValue().asInt()));
        } else if (vocab.isArray()) { // Unigram: [["piece", score], ...], the id is the position
            for (int i = 0; i < vocab.size(); i++) {
                ids.put(vocab.get(i).path(0).asText(), i);
            }
        } else if (!vocab.isMissingNode()) {
            throw new BadInputException(file + ": field 'model.vocab' must be an object or a list");
        }
        for (JsonNode added : root.path("added_tokens")) {
            if (!added.path("content").isTextual() || !added.path("id").canConvertToInt()) {
                throw new BadInputException(file + ": field 'added_tokens' needs content and id, got " + added);
            }
            ids.put(added.get("content").asText(), added.get("id").asInt());
        }
        return ids;
    }

    private static int specialId(Map<String, Integer> ids, Path file, Path configFile, JsonNode config,
            String field, List<String> candidates) {
        Integer named = namedId(ids, file, configFile, config, field);
        if (named != null) {
            return named;
        }
        for (String token : candidates) {
            if (ids.containsKey(token)) {
                return ids.get(token);
            }
        }
        throw new BadInputException(file + ": cannot find the " + field + ": " + configFile + " does not name it and"
                + " none of " + candidates + " is in the vocabulary");
    }

    /** The id of the token {@code tokenizer_config.json} names in {@code field}, or null when it names none. */
    private static Integer namedId(Map<String, Integer> ids, Path file, Path configFile, JsonNode config, String field) {
        JsonNode node = config.path(field);
        // transformers writes either "</s>" or an AddedToken object {"content": "</s>", ...}
        String token = node.isTextual() ? node.asText() : node.path("content").isTextual() ? node.get("content").asText() : null;
        if (token == null) {
            return null;
        }
        Integer id = ids.get(token);
        if (id == null) {
            throw new BadInputException(configFile + ": field '" + field + "' names \"" + token + "\", which is not in " + file);
        }
        return id;
    }
}
