package dev.dice.actors;

import dev.dice.proto.GeneratedShard;
import dev.dice.proto.ScoredShard;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

/**
 * How the nodes of a run find each other and what workers tell the coordinator. The coordinator (a cluster
 * singleton) registers under {@link #COORDINATOR}; workers report every shard result to whichever coordinator the
 * receptionist lists, and keep the work unconfirmed until the coordinator has answered with an {@link Ack}: a
 * result is stored before its shard leaves the durable work queue.
 */
public final class Coordination {
    private Coordination() {}

    /** The coordinator's messages: a worker's results here, the coordinator's own (local) messages beside them. */
    public interface Command {}

    public static final ServiceKey<Command> COORDINATOR = ServiceKey.create(Command.class, "dice-coordinator");

    /** Trainers; TrainerActor itself knows nothing of the cluster, its node registers it. */
    public static final ServiceKey<TrainerActor.Command> TRAINERS = ServiceKey.create(TrainerActor.Command.class,
            "dice-trainer");

    /** A shard's result; {@code worker} names the node and actor that produced it (for the log). */
    public sealed interface Result extends Command {
        String job();

        int shardIndex();

        boolean scoring();

        /** The policy version that produced the result, and the SHA-256 of its weights as the worker held them. */
        long policyVersion();

        String weightsSha256();

        String worker();

        ActorRef<Ack> replyTo();
    }

    public record Generated(GeneratedShard generated, String worker, ActorRef<Ack> replyTo) implements Result, Wire {
        public String job() {
            return generated.getJob();
        }

        public int shardIndex() {
            return generated.getShard();
        }

        public boolean scoring() {
            return false;
        }

        public long policyVersion() {
            return generated.getPolicyVersion();
        }

        public String weightsSha256() {
            return generated.getWeightsSha256();
        }
    }

    public record Scored(ScoredShard scored, String worker, ActorRef<Ack> replyTo) implements Result, Wire {
        public String job() {
            return scored.getJob();
        }

        public int shardIndex() {
            return scored.getShard();
        }

        public boolean scoring() {
            return true;
        }

        public long policyVersion() {
            return scored.getPolicyVersion();
        }

        public String weightsSha256() {
            return scored.getWeightsSha256();
        }
    }

    public enum Outcome {
        /** Persisted by the shard's job. */
        STORED,
        /** The job already holds this shard's result. */
        DUPLICATE,
        /** Produced by an old policy version, or for a job that is over: dropped. */
        STALE,
        /** The job has not started on this coordinator (yet, e.g. right after a failover): send it again later. */
        LATER;

        /** Whether the worker may confirm the shard to its work queue: everything but LATER. */
        public boolean settled() {
            return this != LATER;
        }
    }

    public record Ack(String job, boolean scoring, int shard, Outcome outcome) implements Wire {
        public boolean answers(Result result) {
            return job.equals(result.job()) && scoring == result.scoring() && shard == result.shardIndex();
        }
    }

    /** Asks the coordinator for the models its jobs use now: a worker that joins loads them before its first shard. */
    public record AskCurrentModels(ActorRef<CurrentModels> replyTo) implements Command, Wire {}

    /**
     * The models the coordinator's jobs use now, each where to get it from (its checkpoint named relative to the run
     * directory); null until a job uses one.
     */
    public record CurrentModels(ModelSource generation, ModelSource scoringPolicy, ModelSource scoringReference)
            implements Wire {
        public static final CurrentModels NONE = new CurrentModels(null, null, null);
    }

    /** The end of a run, published to every node of the cluster on {@link #RUN_TOPIC}. */
    public record RunEnded(boolean ok, String message) implements Wire {}

    public static final String RUN_TOPIC = "dice-run";

    /**
     * The coordinator wrote {@code what} into its run directory (a stage's model, a round's files, a stage finished),
     * published on {@link #RUN_FILES_TOPIC}: nodes that stand by to take the coordinator over bring their copy up to date.
     */
    public record RunFilesChanged(String what) implements Wire {}

    public static final String RUN_FILES_TOPIC = "dice-run-files-changed";
}
