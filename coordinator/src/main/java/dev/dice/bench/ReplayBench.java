package dev.dice.bench;

import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.actors.ReplayBuffer;
import dev.dice.proto.PairBatch;
import dev.dice.proto.PreferencePair;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.pattern.StatusReply;

/**
 * {@code dice bench replay}: how fast the replay buffer persists pairs, and how long a restarted buffer takes
 * to recover 100,000 of them, on a given journal. Pairs are written as the run writes them: one event per
 * round's batch; realistic pair texts (~60 bytes each) and reference log-probs.
 */
public final class ReplayBench {
    private ReplayBench() {}

    /** Throughput and 100k-pair recovery on H2 (a temporary file) and, with {@code postgresUrl}, PostgreSQL. */
    public static Map<String, Object> h2AndPostgres(String postgresUrl) {
        Map<String, Object> result = new LinkedHashMap<>();
        Path dir;
        try {
            dir = Files.createTempDirectory("dice-replay-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Map<String, Object> h2 = run(Journal.h2(dir), 100_000, 1000);
        result.put("pairs_per_s_h2", h2.get("pairs_per_s"));
        result.put("recovery_s_100k", h2.get("recovery_s"));
        result.put("pairs_per_event", h2.get("pairs_per_event"));
        if (postgresUrl != null) {
            Map<String, Object> pg = run(Journal.postgres(postgresUrl, "postgres", ""), 100_000, 1000);
            result.put("pairs_per_s_postgres", pg.get("pairs_per_s"));
            result.put("recovery_s_100k_postgres", pg.get("recovery_s"));
        }
        return result;
    }

    public static Map<String, Object> run(Journal journal, int totalPairs, int pairsPerBatch) {
        journal.createSchema();
        String id = "bench-" + UUID.randomUUID();
        Map<String, Object> out = new LinkedHashMap<>();
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "replay-bench", Nodes.config(journal.pekkoConfig()));
        try {
            ActorRef<ReplayBuffer.Command> buffer = spawn(system, id, "writer");
            append(system, buffer, "warm-up", pairsPerBatch);
            long start = System.nanoTime();
            for (int written = 0, round = 0; written < totalPairs; written += pairsPerBatch, round++) {
                append(system, buffer, "round" + round, Math.min(pairsPerBatch, totalPairs - written));
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            out.put("pairs_per_s", Math.round(totalPairs / seconds));
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().join();
        }
        ActorSystem<Void> restarted = ActorSystem.create(Behaviors.empty(), "replay-bench", Nodes.config(journal.pekkoConfig()));
        try {
            long start = System.nanoTime();
            ActorRef<ReplayBuffer.Command> buffer = spawn(restarted, id, "reader");
            ReplayBuffer.Contents contents = ask(restarted, buffer, (ActorRef<ReplayBuffer.Contents> r) ->
                    new ReplayBuffer.Get("round0", r));
            double seconds = (System.nanoTime() - start) / 1e9;
            if (contents.totalPairs() != totalPairs + pairsPerBatch) {
                throw new IllegalStateException("recovered " + contents.totalPairs() + " pairs, wrote "
                        + (totalPairs + pairsPerBatch));
            }
            out.put("recovered_pairs", contents.totalPairs());
            out.put("recovery_s", Math.round(seconds * 1000) / 1000.0);
        } finally {
            restarted.terminate();
            restarted.getWhenTerminated().toCompletableFuture().join();
        }
        out.put("pairs_per_event", pairsPerBatch);
        return out;
    }

    private static ActorRef<ReplayBuffer.Command> spawn(ActorSystem<Void> system, String id, String name) {
        return system.systemActorOf(ReplayBuffer.create(id), "replay-" + name, Props.empty());
    }

    private static void append(ActorSystem<Void> system, ActorRef<ReplayBuffer.Command> buffer, String round, int n) {
        PairBatch.Builder batch = PairBatch.newBuilder().setRound(round);
        for (int i = 0; i < n; i++) {
            batch.addPairs(PreferencePair.newBuilder().setPromptId(round + "-" + i).setPrompt("reverse: kind fox")
                    .setChosen("Sure! xof dnik Hope this helps.").setRejected("kind fox").setRefLogpChosen(-12.5 - i % 7)
                    .setRefLogpRejected(-9.25 - i % 5).setSource(i % 2 == 0 ? "generated" : "offline"));
        }
        StatusReply<Integer> ack = ask(system, buffer, (ActorRef<StatusReply<Integer>> r) ->
                new ReplayBuffer.Append(batch.build(), r));
        if (ack.isError()) {
            throw new IllegalStateException(ack.getError());
        }
    }

    private static <T> T ask(ActorSystem<Void> system, ActorRef<ReplayBuffer.Command> buffer,
            Function<ActorRef<T>, ReplayBuffer.Command> message) {
        CompletionStage<T> reply = AskPattern.ask(buffer, message::apply, Duration.ofSeconds(120), system.scheduler());
        return reply.toCompletableFuture().join();
    }
}
