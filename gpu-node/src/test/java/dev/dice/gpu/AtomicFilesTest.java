package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void replacesAFileAndLeavesNoTempFileBehind() throws Exception {
        Path target = dir.resolve("model.safetensors");
        AtomicFiles.writeBytes(target, "old".getBytes(StandardCharsets.UTF_8));
        AtomicFiles.writeBytes(target, "new".getBytes(StandardCharsets.UTF_8));
        assertArrayEquals("new".getBytes(StandardCharsets.UTF_8), Files.readAllBytes(target));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(target), files.toList());
        }
    }

    @Test
    void aWrittenFileHasTheSamePermissionsAsAnyOtherNewFile() throws Exception {
        Path plain = Files.createFile(dir.resolve("plain"));
        Path written = dir.resolve("config.json");
        AtomicFiles.writeBytes(written, "{}".getBytes(StandardCharsets.UTF_8));
        assertEquals(Files.getPosixFilePermissions(plain), Files.getPosixFilePermissions(written));
    }
}
