package dev.dice.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileManifestTest {
    private static final FileManifest.Entry CONFIG = new FileManifest.Entry("run-config.json", 10, "aa", 1);
    private static final FileManifest.Entry WEIGHTS = new FileManifest.Entry("sft/model/model.safetensors", 4096, "bb", 2);
    private static final FileManifest.Entry STAGE = new FileManifest.Entry("sft/stage.json", 20, "cc", 3);

    @Test
    void wantedIsWhatIsMissingOrDifferentInTheServersOrder() {
        List<FileManifest.Entry> remote = List.of(CONFIG, WEIGHTS, STAGE);
        assertEquals(remote, FileManifest.wanted(remote, Map.of()), "an empty directory wants everything");
        assertEquals(List.of(), FileManifest.wanted(remote, Map.of(CONFIG.path(), CONFIG, WEIGHTS.path(), WEIGHTS,
                STAGE.path(), STAGE)), "an up-to-date copy wants nothing");
        assertEquals(List.of(WEIGHTS, STAGE), FileManifest.wanted(remote, Map.of(CONFIG.path(), CONFIG,
                WEIGHTS.path(), new FileManifest.Entry(WEIGHTS.path(), 4096, "other", 2))),
                "same size, other digest: fetched again; a missing file too");
        assertEquals(List.of(WEIGHTS), FileManifest.wanted(remote, Map.of(CONFIG.path(), CONFIG, STAGE.path(), STAGE,
                WEIGHTS.path(), new FileManifest.Entry(WEIGHTS.path(), 100, "bb", 2))), "other size: fetched again");
        assertEquals(List.of(), FileManifest.wanted(remote, Map.of(CONFIG.path(), CONFIG, STAGE.path(), STAGE,
                WEIGHTS.path(), new FileManifest.Entry(WEIGHTS.path(), 4096, "bb", 99))),
                "the same contents written at another time: not fetched (only its time is set)");
        assertEquals(List.of(), FileManifest.wanted(List.of(), Map.of(CONFIG.path(), CONFIG)),
                "a file the server does not list is left alone");
    }

    @Test
    void onlyPlainRelativePathsAreServedOrWritten() {
        assertTrue(FileManifest.plain("run-config.json"));
        assertTrue(FileManifest.plain("round1/model/model.safetensors"));
        for (String bad : List.of("", "/etc/passwd", "../x", "a/../b", "a//b", "a/", "./a", ".dice-files-token",
                "sft/model/.model.safetensors.1f.tmp", "a\\b")) {
            assertFalse(FileManifest.plain(bad), bad);
        }
    }

    @Test
    void anEntryHasTheFilesSizeAndDigestAndFollowsItsChanges(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("a.txt"), "abc");
        FileManifest.Entry entry = FileManifest.entry("a.txt", file);
        assertEquals(new FileManifest.Entry("a.txt", 3,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                Files.getLastModifiedTime(file).toMillis()), entry);
        Path replacement = Files.writeString(dir.resolve("b.txt"), "abd");
        Files.move(replacement, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertNotEquals(entry.sha256(), FileManifest.entry("a.txt", file).sha256(), "a replaced file is hashed again");
    }
}
