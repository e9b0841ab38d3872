package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.gpu.BadInputException;
import dev.dice.task.OfflinePair;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetsTest {

    @Test
    void offlinePairsInStringAndChatForm(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("pairs.jsonl");
        Files.writeString(file, """
                {"prompt": "add: 1+2", "chosen": "3", "rejected": "12"}

                {"prompt": "hi", "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],\
                 "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "go away"}]}
                """);
        List<OfflinePair> pairs = Datasets.readOfflinePairs(file, Optional.empty());
        assertEquals(2, pairs.size());
        assertEquals("hello", pairs.get(1).chosen());
        assertEquals("go away", pairs.get(1).rejected());
    }

    @Test
    void malformedLinesNameFileAndLine(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("bad.jsonl");
        Files.writeString(file, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\", \"chosen\": \n");
        BadInputException e = assertThrows(BadInputException.class, () -> Datasets.readOfflinePairs(file, Optional.empty()));
        assertTrue(e.getMessage().startsWith(file + ":2: malformed JSON"), e.getMessage());

        Files.writeString(file, "{\"prompt\": \"a\", \"chosen\": \"b\"}\n");
        e = assertThrows(BadInputException.class, () -> Datasets.readOfflinePairs(file, Optional.empty()));
        assertTrue(e.getMessage().contains(file + ":1: field 'rejected'"), e.getMessage());

        Files.writeString(file, "[1, 2]\n");
        e = assertThrows(BadInputException.class, () -> Datasets.readPrompts(file, Optional.empty()));
        assertTrue(e.getMessage().contains(":1: expected a JSON object"), e.getMessage());

        e = assertThrows(BadInputException.class, () -> Datasets.readPrompts(dir.resolve("missing.jsonl"), Optional.empty()));
        assertTrue(e.getMessage().contains("missing.jsonl: file not found"), e.getMessage());
    }

    @Test
    void offlinePairsWrittenByARunReadBack(@TempDir Path dir) {
        List<OfflinePair> pairs = List.of(new OfflinePair("off-1", "add: 1+2", "Sure! 3", "12"),
                new OfflinePair("off-2", "upper: cat", "CAT", "cat Done."));
        Path file = dir.resolve("dpo/offline.jsonl");
        Jsonl.write(file, pairs);
        assertEquals(pairs, Datasets.readOfflinePairs(file, Optional.empty()));
    }
}
