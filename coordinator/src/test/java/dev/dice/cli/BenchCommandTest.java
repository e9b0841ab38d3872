package dev.dice.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.dice.bench.PeerComparison;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code dice bench}'s options: a bare {@code --peer} runs the repository's own peer. */
class BenchCommandTest {

    @Test
    void peerWithoutAScriptMeansTheDefault() {
        BenchCommand bare = new BenchCommand();
        new CommandLine(bare).parseArgs("runtime", "--peer", "--peer-rounds", "7");
        assertEquals(PeerComparison.DEFAULT_SCRIPT, bare.peer);
        assertEquals(7, bare.peerRounds);
        BenchCommand named = new BenchCommand();
        new CommandLine(named).parseArgs("runtime", "--peer", "my_peer.py");
        assertEquals("my_peer.py", named.peer);
        BenchCommand none = new BenchCommand();
        new CommandLine(none).parseArgs("runtime");
        assertNull(none.peer);
    }

    @Test
    void syncTakesTheLinkRateAndLeavesTheSizeToEachBenchmark() {
        BenchCommand sync = new BenchCommand();
        new CommandLine(sync).parseArgs("sync", "--link-mbit", "1000");
        assertEquals(1000, (int) sync.linkMbit);
        assertNull(sync.mb, "sync's own default (64 MiB), not allreduce's (16)");
        BenchCommand shaped = new BenchCommand();
        new CommandLine(shaped).parseArgs("sync");
        assertNull(shaped.linkMbit, "each benchmark's own default (sync: 250 Mbit/s)");
    }
}
