package dev.dice.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.proto.PairBatch;
import dev.dice.proto.PreferencePair;
import java.nio.file.Path;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.pattern.StatusReply;
import java.util.UUID;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The replay buffer on the real H2 file journal: what was acknowledged survives a restart, once. */
class ReplayBufferTest {

    private static PairBatch batch(String round, int pairs) {
        PairBatch.Builder b = PairBatch.newBuilder().setRound(round);
        for (int i = 0; i < pairs; i++) {
            b.addPairs(PreferencePair.newBuilder().setPromptId(round + "-" + i).setPrompt("p" + i).setChosen("c")
                    .setRejected("r").setRefLogpChosen(-1.5).setRefLogpRejected(-2.5).setSource("generated"));
        }
        return b.build();
    }

    private static ActorTestKit start(Journal journal) {
        journal.createSchema();
        // Generous timeouts: CI machines are small and busy.
        return ActorTestKit.create("replay", Nodes.config(journal.pekkoConfig().withFallback(ConfigFactory.parseString(
                "pekko.actor.testkit.typed.default-timeout = 30s\npekko.actor.testkit.typed.single-expect-default = 30s"))));
    }

    /** The real PostgreSQL server `.ci/run` starts (ops/scripts/postgres-throwaway.sh); skipped without one. */
    static Journal postgres() {
        String url = System.getenv("DICE_TEST_POSTGRES_URL");
        Assumptions.assumeTrue(url != null && !url.isEmpty(),
                "DICE_TEST_POSTGRES_URL is not set (.ci/run starts a throwaway server)");
        return Journal.postgres(url, "postgres", "");
    }

    @Test
    void acknowledgedPairsSurviveARestartOnH2(@TempDir Path run) {
        survivesRestart(Journal.h2(run));
    }

    @Test
    void acknowledgedPairsSurviveARestartOnPostgres() {
        survivesRestart(postgres());
    }

    private void survivesRestart(Journal journal) {
        String runA = "run-a-" + UUID.randomUUID();
        String runB = "run-b-" + UUID.randomUUID();
        ActorTestKit first = start(journal);
        try {
            ActorRef<ReplayBuffer.Command> buffer = first.spawn(ReplayBuffer.create(runA));
            TestProbe<StatusReply<Integer>> acks = first.createTestProbe();
            for (int round = 1; round <= 5; round++) { // past the snapshot interval
                buffer.tell(new ReplayBuffer.Append(batch("round" + round, 10 * round), acks.getRef()));
                assertEquals(10 * round, acks.receiveMessage().getValue());
            }
            buffer.tell(new ReplayBuffer.Append(batch("round2", 3), acks.getRef()));
            assertEquals(20, acks.receiveMessage().getValue(), "a re-sent round is acknowledged, not rewritten");
        } finally {
            first.shutdownTestKit();
        }
        ActorTestKit second = start(journal);
        try {
            ActorRef<ReplayBuffer.Command> buffer = second.spawn(ReplayBuffer.create(runA));
            TestProbe<ReplayBuffer.Contents> reply = second.createTestProbe();
            buffer.tell(new ReplayBuffer.Get("round3", reply.getRef()));
            ReplayBuffer.Contents contents = reply.receiveMessage();
            assertEquals(30, contents.pairs().size());
            assertEquals("round3-29", contents.pairs().get(29).getPromptId());
            assertEquals(-2.5, contents.pairs().get(0).getRefLogpRejected());
            assertEquals(150, contents.totalPairs());
            ActorRef<ReplayBuffer.Command> other = second.spawn(ReplayBuffer.create(runB));
            other.tell(new ReplayBuffer.Get("round3", reply.getRef()));
            assertTrue(reply.receiveMessage().pairs().isEmpty(), "runs do not share a buffer");
        } finally {
            second.shutdownTestKit();
        }
    }

    @Test
    void anAppendWithoutARoundIsRefused(@TempDir Path run) {
        ActorTestKit kit = start(Journal.h2(run));
        try {
            ActorRef<ReplayBuffer.Command> buffer = kit.spawn(ReplayBuffer.create("run-c"));
            TestProbe<StatusReply<Integer>> acks = kit.createTestProbe();
            buffer.tell(new ReplayBuffer.Append(PairBatch.getDefaultInstance(), acks.getRef()));
            StatusReply<Integer> reply = acks.receiveMessage();
            assertTrue(reply.isError());
            assertTrue(reply.getError().getMessage().contains("'round'"));
        } finally {
            kit.shutdownTestKit();
        }
    }
}
