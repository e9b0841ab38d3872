package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.actors.FileManifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunFilesTest {

    @Test
    void theLockTheJournalAndHiddenFilesStayOnTheirNode() {
        assertTrue(RunFiles.mirrored("run-config.json"));
        assertTrue(RunFiles.mirrored("round1/scored.jsonl"));
        assertTrue(RunFiles.mirrored("dpo/model/model.safetensors"));
        assertFalse(RunFiles.mirrored("run.lock"));
        assertFalse(RunFiles.mirrored("journal/replay.mv.db"));
        assertFalse(RunFiles.mirrored(FileManifest.TOKEN_FILE));
        assertFalse(RunFiles.mirrored("sft/model/.model.safetensors.7f.tmp"));
        assertFalse(RunFiles.mirrored("../elsewhere"));
    }

    @Test
    void aStagesMarkersComeAfterTheFilesTheyMark() {
        List<String> listed = List.of("sft/stage.json", "sft/model/config.json", "sft/model/train_log.json",
                "sft/model/model.safetensors", "sft/eval.jsonl", "dpo/model/config.json", "run-config.json");
        assertEquals(List.of("run-config.json", "sft/eval.jsonl", "sft/model/model.safetensors",
                "dpo/model/config.json", "sft/model/config.json", "sft/model/train_log.json", "sft/stage.json"),
                RunFiles.inFetchOrder(listed));
    }

    @Test
    void servesTheRunDirectoryButNotTheLockOrJournal(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("run-config.json"), "{}");
        Files.writeString(dir.resolve("run.lock"), "pid 1");
        Files.createDirectories(dir.resolve("journal"));
        Files.writeString(dir.resolve("journal/replay.mv.db"), "h2");
        Files.createDirectories(dir.resolve("sft/model"));
        Files.writeString(dir.resolve("sft/model/config.json"), "{}");
        Files.writeString(dir.resolve("sft/model/model.safetensors"), "w");
        RunFiles files = new RunFiles(dir);
        assertEquals(List.of("run-config.json", "sft/model/model.safetensors", "sft/model/config.json"), files.paths());
        assertEquals(files.token(), Files.readString(dir.resolve(FileManifest.TOKEN_FILE)).strip());
        assertNull(files.resolve("run.lock"));
        assertNull(files.resolve("journal/replay.mv.db"));
        assertEquals(dir.resolve("sft/model/config.json"), files.resolve("sft/model/config.json"));
    }
}
