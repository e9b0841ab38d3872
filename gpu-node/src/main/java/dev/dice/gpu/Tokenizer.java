package dev.dice.gpu;

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

    /** Refuses a tokenizer whose ids would index past the model's embedding table. */
    static void checkFits(Tokenizer tokenizer, LlamaConfig cfg, String where) {
        if (tokenizer.vocabSize() > cfg.vocabSize()) {
            throw new BadInputException(where + ": tokenizer vocabulary (" + tokenizer.vocabSize()
                    + " tokens) is larger than the model's vocab_size (" + cfg.vocabSize() + ")");
        }
    }
}
