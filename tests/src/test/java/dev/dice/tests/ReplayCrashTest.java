package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.actors.ReplayBuffer;
import dev.dice.proto.PairBatch;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.pattern.StatusReply;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGKILL during replay writes: a separate JVM ({@link ReplayWriter}) appends rounds with a few in flight and is
 * killed right after its 20th acknowledgement, while later appends are being written. A buffer restarted on the
 * same journal holds every acknowledged round with all its pairs; a round written but not yet acknowledged is
 * there whole or not at all (a round is one event). On H2 and, when DICE_TEST_POSTGRES_URL is set, PostgreSQL.
 */
class ReplayCrashTest {
    private static final int KILL_AFTER_ACKS = 20;

    @Test
    void acknowledgedPairsSurviveSigkillOnH2(@TempDir Path dir) throws Exception {
        // The URL Journal.h2 gives a run directory; AUTO_SERVER lets the restarted buffer take over the dead one's file.
        crashAndRecover("h2", Journal.h2(dir).url());
    }

    @Test
    void acknowledgedPairsSurviveSigkillOnPostgres() throws Exception {
        String url = System.getenv("DICE_TEST_POSTGRES_URL");
        Assumptions.assumeTrue(url != null && !url.isEmpty(),
                "DICE_TEST_POSTGRES_URL is not set (.ci/run starts a throwaway server)");
        crashAndRecover("postgres", url);
    }

    private void crashAndRecover(String kind, String url) throws Exception {
        String runId = "crash-" + UUID.randomUUID();
        Map<String, Integer> acked = writeUntilKilled(kind, url, runId);
        assertTrue(acked.size() >= KILL_AFTER_ACKS, "acknowledged before the kill: " + acked.size());

        Journal journal = ReplayWriter.journal(kind, url);
        ActorTestKit kit = ActorTestKit.create("replay", Nodes.config(journal.pekkoConfig().withFallback(
                ConfigFactory.parseString("pekko.actor.testkit.typed.single-expect-default = 30s"))));
        try {
            ActorRef<ReplayBuffer.Command> buffer = kit.spawn(ReplayBuffer.create(runId));
            TestProbe<ReplayBuffer.Contents> reply = kit.createTestProbe();
            int highest = acked.keySet().stream().mapToInt(r -> Integer.parseInt(r.substring(1))).max().orElseThrow();
            // Every acknowledged round, and the ones that may have been in flight when the process died.
            for (int i = 0; i <= highest + ReplayWriter.IN_FLIGHT; i++) {
                PairBatch expected = ReplayWriter.round(i);
                buffer.tell(new ReplayBuffer.Get(expected.getRound(), reply.getRef()));
                ReplayBuffer.Contents contents = reply.receiveMessage();
                if (acked.containsKey(expected.getRound())) {
                    assertEquals(acked.get(expected.getRound()), contents.pairs().size(), expected.getRound());
                    assertEquals(expected.getPairsList(), contents.pairs(), expected.getRound() + ": every pair intact");
                } else if (!contents.pairs().isEmpty()) {
                    assertEquals(expected.getPairsList(), contents.pairs(), expected.getRound() + " (unacknowledged)");
                } else {
                    assertTrue(i > KILL_AFTER_ACKS - 1 - ReplayWriter.IN_FLIGHT, expected.getRound() + " missing");
                }
            }
            // The recovered buffer takes new rounds.
            TestProbe<StatusReply<Integer>> acks = kit.createTestProbe();
            PairBatch next = ReplayWriter.round(highest + ReplayWriter.IN_FLIGHT + 1);
            buffer.tell(new ReplayBuffer.Append(next, acks.getRef()));
            assertEquals(next.getPairsCount(), acks.receiveMessage().getValue());
        } finally {
            kit.shutdownTestKit();
        }
    }

    /** Runs the writer JVM, SIGKILLs it after {@link #KILL_AFTER_ACKS} acknowledgements; returns every ack it printed. */
    private static Map<String, Integer> writeUntilKilled(String kind, String url, String runId) throws Exception {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", classpath,
                ReplayWriter.class.getName(), kind, url, runId));
        Process writer = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Map<String, Integer> acked = new HashMap<>();
        List<String> other = new ArrayList<>();
        try (BufferedReader out = new BufferedReader(new InputStreamReader(writer.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                String[] fields = line.split(" ");
                if (fields[0].equals("ACK")) {
                    acked.put(fields[1], Integer.parseInt(fields[2]));
                    if (acked.size() == KILL_AFTER_ACKS) {
                        writer.destroyForcibly(); // SIGKILL: no shutdown hooks, appends in flight
                    }
                } else {
                    other.add(line);
                }
            }
        } catch (IOException e) {
            // the pipe may break as the process dies; what was read is what was acknowledged
        } finally {
            writer.destroyForcibly();
        }
        if (!writer.waitFor(30, TimeUnit.SECONDS)) {
            fail("the writer JVM did not die");
        }
        if (acked.size() < KILL_AFTER_ACKS) {
            fail("the writer stopped after " + acked.size() + " acknowledgements (exit " + writer.exitValue() + "): " + other);
        }
        assertEquals(137, writer.exitValue(), "killed by SIGKILL");
        return acked;
    }
}
