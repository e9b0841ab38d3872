package dev.dice.task;

import java.util.ArrayList;
import java.util.List;

/**
 * The user's own prompts as a {@link Task}: the last fifth (at most the evaluation's count) held out for evaluation,
 * the rest taken in turn by the rounds, wrapping around. There is no judge for them: evaluation reports lengths and
 * the implicit reward's statistics only.
 */
public final class OwnPrompts implements Task {
    private final List<Prompt> held;
    private final List<Prompt> rounds;

    /** {@code evalPrompts}: how many the evaluation asks for; it gets at most a fifth of {@code all}. */
    public OwnPrompts(List<Prompt> all, int evalPrompts) {
        int n = Math.min(evalPrompts, all.size() / 5);
        this.held = List.copyOf(all.subList(all.size() - n, all.size()));
        this.rounds = List.copyOf(all.subList(0, all.size() - n));
    }

    @Override
    public List<Prompt> eval(int n) {
        return held.subList(held.size() - Math.min(n, held.size()), held.size());
    }

    @Override
    public List<Prompt> round(int t, int n) {
        int count = Math.min(n, rounds.size());
        int from = (int) ((long) (t - 1) * count % Math.max(1, rounds.size()));
        List<Prompt> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(rounds.get((from + i) % rounds.size()));
        }
        return out;
    }
}
