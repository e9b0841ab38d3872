package dev.dice.coordinator;

import dev.dice.actors.Coordination;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;

/** The coordinator's shard jobs: the one running, which workers' results go to, and those that are over. */
final class ShardJobs {
    private final Set<String> over = new HashSet<>();
    private ActorRef<ShardJob.Command> running;
    private String name;

    void started(String job, ActorRef<ShardJob.Command> ref) {
        name = job;
        running = ref;
    }

    void finished(String job) {
        over.add(job);
        running = null;
        name = null;
    }

    /**
     * Hands a worker's result to the running job it belongs to; otherwise says what becomes of it. A result for a
     * job that is over, or of no stage still to run, is stale; one for a job of the current stage this coordinator
     * has not started yet (it took over mid-stage and is catching up) must wait: the worker keeps it and sends it again.
     */
    Optional<Coordination.Outcome> deliver(Coordination.Result result, RunPlan plan) {
        if (running != null && result.job().equals(name)) {
            running.tell(new ShardJob.Deliver(result));
            return Optional.empty();
        }
        Optional<String> stage = Job.parse(result.job()).map(Job::stage).filter(plan.stages()::contains);
        boolean stale = over.contains(result.job()) || stage.isEmpty() || plan.dir().finished(stage.get());
        return Optional.of(stale ? Coordination.Outcome.STALE : Coordination.Outcome.LATER);
    }
}
