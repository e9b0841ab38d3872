package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
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

    @Test
    void readsTheGenerationPeersJsonLine() throws Exception {
        Path script = dir.resolve("peer.sh");
        Files.writeString(script, "echo warming up\necho '{\"threads\": '$1', \"score_sequences_per_s\": '$3'00.5}'\n");
        Map<String, Object> json = PeerComparison.peerJson(script, "sh", 1, 4);
        assertEquals(400.5, ((Number) json.get("score_sequences_per_s")).doubleValue(), 1e-9);
        assertEquals(1, ((Number) json.get("threads")).intValue());
        Files.writeString(script, "echo no json here\n");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> PeerComparison.peerJson(script, "sh", 1, 4));
        assertTrue(e.getMessage().contains("no JSON") && e.getMessage().contains("no json here"), e.getMessage());
    }
}
