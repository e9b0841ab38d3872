package dev.dice.gpu;

import dev.dice.gpu.chat.ChatTemplate;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Text to token ids and back. Implementations never add special tokens or truncate on their own. */
public interface Tokenizer {

    int[] encode(String text);

    /** Special tokens (BOS/EOS/PAD) are dropped from the text. */
    String decode(int[] ids);

    /** One more than the largest id this tokenizer can produce. */
    int vocabSize();

    int bosId();

    int eosId();

    int padId();

    /** The token that ends a response: the chat template's end of turn where there is one, else EOS. */
    default int endOfTurnId() {
        return eosId();
    }

    /** The chat template prompts are rendered with, where the tokenizer has one and the run uses it. */
    default Optional<ChatTemplate> chatTemplate() {
        return Optional.empty();
    }

    /** A special token's text as a chat template writes it (e.g. {@code <|eot_id|>}); "" where there is none. */
    default String tokenText(int id) {
        return "";
    }

    /** The files this tokenizer was read from, which a saved model directory carries along. */
    default List<Path> files() {
        return List.of();
    }

    /** Refuses a tokenizer whose ids would index past the model's embedding table. */
    static void checkFits(Tokenizer tokenizer, LlamaConfig cfg, String where) {
        if (tokenizer.vocabSize() > cfg.vocabSize()) {
            throw new BadInputException(where + ": tokenizer vocabulary (" + tokenizer.vocabSize()
                    + " tokens) is larger than the model's vocab_size (" + cfg.vocabSize() + ")");
        }
    }
}
