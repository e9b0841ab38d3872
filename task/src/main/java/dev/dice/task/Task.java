package dev.dice.task;

import java.util.List;

/**
 * Where a run's prompts come from: the built-in task's splits, or the user's own prompts ({@link OwnPrompts}). The
 * coordinator asks for the held-out evaluation prompts and for each round's; what it can say about the responses
 * (a judge's quality, or lengths alone) is the run's evaluator's business, not the prompts'.
 */
public interface Task {

    /** The held-out evaluation prompts, at most {@code n}; the same list on every call. */
    List<Prompt> eval(int n);

    /** Round {@code t}'s prompts (t from 1), at most {@code n}. */
    List<Prompt> round(int t, int n);
}
