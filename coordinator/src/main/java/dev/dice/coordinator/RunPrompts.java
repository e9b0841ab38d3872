package dev.dice.coordinator;

import dev.dice.task.BuiltinTask;
import dev.dice.task.Prompt;
import dev.dice.task.Task;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Which prompts each job of a run gets: the eval and round prompts of the run's {@link Task} (the built-in task's
 * splits, or the user's own prompts), the built-in task's offline prompts for D_off, and every prompt handed out so
 * far by id.
 */
final class RunPrompts {
    private final RunConfig config;
    private final Task task;
    private final BuiltinTask builtin;
    private final List<Prompt> eval;
    /** Every prompt handed out so far, by id: the eval prompts and each round's as it starts. */
    private final Map<String, Prompt> byId = new HashMap<>();

    /** {@code builtin} gives the offline prompts, whatever {@code task} gives the rest. */
    RunPrompts(RunConfig config, Task task, BuiltinTask builtin) {
        this.config = config;
        this.task = task;
        this.builtin = builtin;
        this.eval = task.eval(config.eval().prompts());
        eval.forEach(p -> byId.put(p.id(), p));
    }

    List<Prompt> eval() {
        return eval;
    }

    /** Round t's prompts (1-based). */
    List<Prompt> round(int t) {
        List<Prompt> prompts = task.round(t, config.rounds().prompts());
        prompts.forEach(p -> byId.put(p.id(), p));
        return prompts;
    }

    /** The prompts of D_off on the built-in task. */
    List<Prompt> offline() {
        return builtin.prompts("offline", config.data().offlinePrompts());
    }

    /** A prompt handed out to a job of the run. */
    Prompt byId(String id) {
        return byId.get(id);
    }

    boolean handedOut(String id) {
        return byId.containsKey(id);
    }
}
