package dev.dice.coordinator;

import dev.dice.gpu.BadInputException;
import java.util.ArrayList;
import java.util.List;

/** Problems found before a run starts, one line each, reported together. */
final class Problems {
    private final List<String> lines = new ArrayList<>();

    void add(String line) {
        lines.add(line);
    }

    boolean isEmpty() {
        return lines.isEmpty();
    }

    List<String> lines() {
        return List.copyOf(lines);
    }

    /** Throws every problem as one {@link BadInputException}, one problem per line of its message. */
    void throwIfAny() {
        if (!lines.isEmpty()) {
            throw new BadInputException(String.join("\n", lines));
        }
    }

    /** At most {@code max} lines of one kind of problem, then one line counting the rest. */
    Capped capped(int max) {
        return new Capped(max);
    }

    final class Capped {
        private final int max;
        private int count;

        private Capped(int max) {
            this.max = max;
        }

        void add(String line) {
            if (++count <= max) {
                lines.add(line);
            }
        }

        void close(String what) {
            if (count > max) {
                lines.add("... " + (count - max) + " more " + what);
            }
        }
    }
}
