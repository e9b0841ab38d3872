package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Running the peer: its own "ms/step=" line is read; a peer that fails or says nothing is a clear error; the default
 * peer is the repository's own.
 */
class PeerComparisonTest {
    @TempDir
    Path dir;

    @Test
    void theDefaultPeerIsInTheRepository() {
        Path repository = Path.of("..").toAbsolutePath().normalize(); // tests run in the coordinator module
        Path script = PeerComparison.locate(PeerComparison.DEFAULT_SCRIPT, repository.toString());
        assertTrue(Files.isRegularFile(script), script + " is missing");
        assertEquals(dir.resolve("mine.py"), PeerComparison.locate(dir.resolve("mine.py").toString(), "/elsewhere"));
    }

    @Test
    void readsThePeersOwnTiming() throws Exception {
        Path script = dir.resolve("peer.sh");
        Files.writeString(script, "echo params 1 threads $2\necho \"pairs=$1 steps=$3 time=1.0s steps/s=4.00 ms/step=250.5\"\n");
        assertEquals(250.5, PeerComparison.peerStepMs(script, "sh", 1, 30), 1e-9);
    }

    @Test
    void aPeerWithoutTimingIsAClearError() throws Exception {
        Path script = dir.resolve("broken.sh");
        Files.writeString(script, "echo ModuleNotFoundError: No module named torch\nexit 1\n");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> PeerComparison.peerStepMs(script, "sh", 1, 30));
        assertTrue(e.getMessage().contains("exit 1") && e.getMessage().contains("No module named torch"), e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> PeerComparison.peerStepMs(script, "/no/such/python", 1, 30));
        assertTrue(missing.getMessage().contains("--peer-python"), missing.getMessage());
    }
}
