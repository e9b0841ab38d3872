package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerTest {

    /** A complete tokenizer.json: WordLevel model, whitespace split, specials as added tokens. */
    private static final String TOKENIZER_JSON = """
            {
              "version": "1.0",
              "truncation": null,
              "padding": null,
              "added_tokens": [
                {"id": 0, "content": "<unk>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 1, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 2, "content": "</s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
                {"id": 9, "content": "<pad>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
              ],
              "normalizer": null,
              "pre_tokenizer": {"type": "Whitespace"},
              "post_processor": null,
              "decoder": null,
              "model": {
                "type": "WordLevel",
                "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "the": 3, "cat": 4, "sat": 5, "on": 6, "mat": 7, "a": 8},
                "unk_token": "<unk>"
              }
            }
            """;

    @TempDir
    Path dir;

    @Test
    void byteTokenizerRoundTripsAnyText() {
        ByteTokenizer t = new ByteTokenizer();
        String text = "héllo, wörld — 日本語 🙂\n";
        int[] ids = t.encode(text);
        assertEquals(text.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ids.length);
        assertEquals(text, t.decode(ids));
        assertArrayEquals(new int[] {104, 105}, t.encode("hi"));
    }

    @Test
    void byteTokenizerDecodeSkipsSpecialsAndBadUtf8() {
        ByteTokenizer t = new ByteTokenizer();
        assertEquals("hi", t.decode(new int[] {ByteTokenizer.BOS, 104, ByteTokenizer.PAD, 105, ByteTokenizer.EOS, 300}));
        int[] cut = t.encode("é"); // two bytes; keep only the first
        assertEquals("\uFFFD", t.decode(new int[] {cut[0]}));
        assertEquals(259, t.vocabSize());
    }

    @Test
    void hfTokenizerRoundTripsWithoutSpecialsOrTruncation() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), TOKENIZER_JSON);
        try (HfTokenizer t = HfTokenizer.load(dir)) {
            assertArrayEquals(new int[] {3, 4, 5, 6, 8, 7}, t.encode("the cat sat on a mat"));
            assertEquals("the cat sat on a mat", t.decode(new int[] {1, 3, 4, 5, 6, 8, 7, 2}));
            assertEquals(10, t.vocabSize()); // ids 0..9, the pad being an added token
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals(2, t.padId()); // no tokenizer_config.json: pad falls back to eos

            // DJL would cut this at 512 tokens by default.
            String longText = String.join(" ", Collections.nCopies(700, "cat"));
            assertEquals(700, t.encode(longText).length);
        }
    }

    @Test
    void hfTokenizerTakesSpecialsFromTokenizerConfig() throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, TOKENIZER_JSON);
        Files.writeString(dir.resolve("tokenizer_config.json"),
                "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\", \"pad_token\": \"<pad>\"}");
        try (HfTokenizer t = HfTokenizer.load(file)) {
            assertEquals(1, t.bosId());
            assertEquals(2, t.eosId());
            assertEquals(9, t.padId());
        }
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"pad_token\": \"[PAD]\"}");
        String msg = assertThrows(BadInputException.class, () -> HfTokenizer.load(file)).getMessage();
        assertTrue(msg.contains("tokenizer_config.json: field 'pad_token'") && msg.contains("[PAD]"), msg);
    }

    @Test
    void vocabularyLargerThanModelIsRefused() {
        LlamaConfig small = new LlamaConfig(258, 16, 40, 1, 4, 4, 64, 1e-5, 1e4, true, 0, 1);
        String msg = assertThrows(BadInputException.class,
                () -> Tokenizer.checkFits(new ByteTokenizer(), small, "run.yaml: tokenizer")).getMessage();
        assertEquals("run.yaml: tokenizer: tokenizer vocabulary (259 tokens) is larger than the model's vocab_size (258)", msg);
        Tokenizer.checkFits(new ByteTokenizer(), LlamaConfigTest.TINY, "fits"); // 259 <= 300
    }
}
