package dev.dice.coordinator;

import dev.dice.task.BuiltinTask;
import dev.dice.task.Prompt;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * Which prompts each job of a run gets: the built-in task's splits, or the user's own prompts, the last fifth (at
 * most {@code dice.eval.prompts}) held out for evaluation and the rest taken in turn by the rounds.
 */
final class RunPrompts {
    private final RunConfig config;
    private final BuiltinTask task;
    private final List<Prompt> eval;
    /** The user's prompts for the rounds; null on the built-in task. */
    private final List<Prompt> userRounds;
    private final List<Prompt> agreement = new ArrayList<>();
    private final List<List<String>> agreementCandidates = new ArrayList<>();
    /** Every prompt handed out so far, by id: the eval prompts and each round's as it starts. */
    private final Map<String, Prompt> byId = new HashMap<>();

    /** {@code agreementSeed} draws the held-out candidates the implicit reward is checked against. */
    RunPrompts(RunConfig config, BuiltinTask task, Optional<ChatFormat> chat, long agreementSeed) {
        this.config = config;
        this.task = task;
        if (!config.data().prompts().isEmpty()) {
            List<Prompt> all = Datasets.readPrompts(Path.of(config.data().prompts()), chat);
            int held = Math.min(config.eval().prompts(), all.size() / 5);
            this.eval = all.subList(all.size() - held, all.size());
            this.userRounds = all.subList(0, all.size() - held);
        } else {
            this.eval = task.prompts("eval", config.eval().prompts());
            this.userRounds = null;
            SplittableRandom rng = new SplittableRandom(agreementSeed);
            for (Prompt p : task.prompts("eval", config.eval().agreementPrompts())) {
                agreement.add(p);
                agreementCandidates.add(task.offlineCandidates(p, rng));
            }
        }
        eval.forEach(p -> byId.put(p.id(), p));
    }

    List<Prompt> eval() {
        return eval;
    }

    /** Round t's prompts (1-based); the user's prompts are taken in turn, wrapping around. */
    List<Prompt> round(int t) {
        List<Prompt> prompts = userRounds != null ? userSlice(t) : task.prompts("round" + t, config.rounds().prompts());
        prompts.forEach(p -> byId.put(p.id(), p));
        return prompts;
    }

    private List<Prompt> userSlice(int t) {
        int n = Math.min(config.rounds().prompts(), userRounds.size());
        int from = (int) ((long) (t - 1) * n % Math.max(1, userRounds.size()));
        List<Prompt> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(userRounds.get((from + i) % userRounds.size()));
        }
        return out;
    }

    /** The prompts of D_off on the built-in task. */
    List<Prompt> offline() {
        return task.prompts("offline", config.data().offlinePrompts());
    }

    /** Eval prompts with held-out candidates (empty without the built-in task). */
    List<Prompt> agreement() {
        return agreement;
    }

    /** The held-out candidates of each {@link #agreement()} prompt, in its order. */
    List<List<String>> agreementCandidates() {
        return agreementCandidates;
    }

    /** A prompt handed out to a job of the run. */
    Prompt byId(String id) {
        return byId.get(id);
    }

    boolean handedOut(String id) {
        return byId.containsKey(id);
    }
}
