package dev.dice.actors;

import dev.dice.proto.PairBatch;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.ReplaySnapshot;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.SnapshotAdapter;

/**
 * The rounds' training sets — generated pairs mixed with replayed offline pairs — persisted as events in
 * the journal, so that a restarted run (or a coordinator on another node) trains on exactly the pairs it
 * acknowledged. A round is written once: appending a round that exists is acknowledged without a second
 * write, so a re-sent append never duplicates pairs.
 */
public final class ReplayBuffer extends EventSourcedBehavior<ReplayBuffer.Command, PairBatch, ReplayBuffer.State> {

    public sealed interface Command {}

    /** Persist one round's mixed set; the reply carries the number of pairs stored for the round. */
    public record Append(PairBatch batch, ActorRef<StatusReply<Integer>> replyTo) implements Command, Wire {}

    public record Get(String round, ActorRef<Contents> replyTo) implements Command, Wire {}

    /** Pairs stored for a round (empty when the round has none yet), and the buffer's total size. */
    public record Contents(String round, List<PreferencePair> pairs, int totalPairs) implements Wire {}

    /** Round name → its pairs, in append order. */
    public static final class State {
        final Map<String, List<PreferencePair>> rounds = new LinkedHashMap<>();

        int totalPairs() {
            return rounds.values().stream().mapToInt(List::size).sum();
        }
    }

    private ReplayBuffer(PersistenceId id) {
        super(id, Journal.restarts());
    }

    public static Behavior<Command> create(String runId) {
        return new ReplayBuffer(PersistenceId.of("ReplayBuffer", runId));
    }

    @Override
    public State emptyState() {
        return new State();
    }

    @Override
    public CommandHandler<Command, PairBatch, State> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(Append.class, this::onAppend)
                .onCommand(Get.class, (state, get) -> {
                    get.replyTo().tell(new Contents(get.round(), state.rounds.getOrDefault(get.round(), List.of()),
                            state.totalPairs()));
                    return Effect().none();
                })
                .build();
    }

    private Effect<PairBatch, State> onAppend(State state, Append append) {
        String round = append.batch().getRound();
        if (round.isEmpty()) {
            append.replyTo().tell(StatusReply.error("replay append: field 'round' is empty"));
            return Effect().none();
        }
        List<PreferencePair> existing = state.rounds.get(round);
        if (existing != null) {
            append.replyTo().tell(StatusReply.success(existing.size()));
            return Effect().none();
        }
        return Effect().persist(append.batch())
                .thenReply(append.replyTo(), s -> StatusReply.success(s.rounds.get(round).size()));
    }

    @Override
    public EventHandler<State, PairBatch> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onEvent(PairBatch.class, (state, batch) -> {
            state.rounds.put(batch.getRound(), List.copyOf(batch.getPairsList()));
            return state;
        }).build();
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return RetentionCriteria.snapshotEvery(2, 2);
    }

    @Override
    public SnapshotAdapter<State> snapshotAdapter() {
        return new SnapshotAdapter<>() {
            @Override
            public Object toJournal(State state) {
                ReplaySnapshot.Builder b = ReplaySnapshot.newBuilder();
                state.rounds.forEach((round, pairs) -> b.addRounds(PairBatch.newBuilder().setRound(round).addAllPairs(pairs)));
                return b.build();
            }

            @Override
            public State fromJournal(Object from) {
                State state = new State();
                for (PairBatch batch : ((ReplaySnapshot) from).getRoundsList()) {
                    state.rounds.put(batch.getRound(), List.copyOf(batch.getPairsList()));
                }
                return state;
            }
        };
    }
}
