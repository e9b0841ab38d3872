package dev.dice.tests;

import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.actors.ReplayBuffer;
import dev.dice.proto.PairBatch;
import dev.dice.proto.PreferencePair;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The process {@link ReplayCrashTest} kills: appends rounds to a replay buffer without end, a few in flight at a
 * time, and prints {@code ACK <round> <pairs>} once the buffer acknowledged a round (StatusReply success).
 *   args: h2|postgres JDBC_URL RUN_ID
 */
public final class ReplayWriter {
    static final int IN_FLIGHT = 4;

    /** Round i's pairs: a size that varies with i, and contents that name the round and the pair. */
    static PairBatch round(int i) {
        PairBatch.Builder b = PairBatch.newBuilder().setRound("r" + i);
        for (int j = 0; j < 10 + i % 7; j++) {
            b.addPairs(PreferencePair.newBuilder().setPromptId("r" + i + "-" + j).setPrompt("prompt " + j)
                    .setChosen("chosen " + i).setRejected("rejected " + j).setRefLogpChosen(-i).setRefLogpRejected(-j)
                    .setSource("generated"));
        }
        return b.build();
    }

    static Journal journal(String kind, String url) {
        return kind.equals("postgres") ? Journal.postgres(url, "postgres", "") : new Journal("h2", url, "sa", "");
    }

    public static void main(String[] args) throws Exception {
        Journal journal = journal(args[0], args[1]);
        journal.createSchema();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "writer", Nodes.config(journal.pekkoConfig()));
        ActorRef<ReplayBuffer.Command> buffer = system.systemActorOf(ReplayBuffer.create(args[2]), "replay-buffer",
                Props.empty());
        Semaphore inFlight = new Semaphore(IN_FLIGHT);
        for (int i = 0; ; i++) {
            inFlight.acquire();
            PairBatch batch = round(i);
            CompletionStage<Integer> ack = AskPattern.askWithStatus(buffer,
                    replyTo -> new ReplayBuffer.Append(batch, replyTo), Duration.ofSeconds(60), system.scheduler());
            ack.whenComplete((pairs, failure) -> {
                if (failure != null) {
                    System.out.println("FAILED " + batch.getRound() + " " + failure);
                } else {
                    System.out.println("ACK " + batch.getRound() + " " + pairs);
                }
                System.out.flush();
                inFlight.release();
            });
        }
    }
}
