package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.gpu.BadInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunLockTest {
    @TempDir
    Path dir;

    @Test
    void aSecondRunIsRefusedNamingTheHolderUntilTheFirstEnds() throws Exception {
        Path run = dir.resolve("run");
        try (RunLock first = RunLock.acquire(run, true)) {
            BadInputException refused = assertThrows(BadInputException.class, () -> RunLock.acquire(run, true));
            assertTrue(refused.getMessage().contains("in use by another run (pid " + ProcessHandle.current().pid()),
                    refused.getMessage());
            assertThrows(BadInputException.class, () -> RunLock.acquire(run, false));
        }
        assertDoesNotThrow(() -> RunLock.acquire(run, true).close());
    }

    @Test
    void aLockFileLeftByADeadProcessIsTakenOver() throws Exception {
        Path run = Files.createDirectories(dir.resolve("run"));
        Files.writeString(run.resolve(RunLock.FILE), "pid 999999 on elsewhere, since 2026-01-01T00:00:00Z\n");
        try (RunLock lock = RunLock.acquire(run, true)) {
            assertTrue(Files.readString(run.resolve(RunLock.FILE)).startsWith("pid " + ProcessHandle.current().pid()));
        }
    }

    @Test
    void theNodesOfAClusterShareTheDirectoryButNotWithASingleRun() throws Exception {
        Path run = dir.resolve("run");
        try (RunLock a = RunLock.acquire(run, false); RunLock b = RunLock.acquire(run, false)) {
            assertThrows(BadInputException.class, () -> RunLock.acquire(run, true));
        }
        assertDoesNotThrow(() -> RunLock.acquire(run, true).close());
    }
}
