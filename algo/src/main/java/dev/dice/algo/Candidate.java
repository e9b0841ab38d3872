package dev.dice.algo;

import java.util.Objects;

/**
 * One sampled response, scored by the two models of a DICE round.
 *
 * @param promptId   the prompt it answers
 * @param sample     its index among that prompt's K samples (used for deterministic tie-breaks)
 * @param logpPolicy log π_t(y|x), summed over the response tokens
 * @param logpRef    log π_{t−1}(y|x), summed over the response tokens
 * @param length     |y|, in whatever unit the caller chose (tokens by default)
 * @param valid      false if the response hit the token limit or is degenerate; invalid responses are never ranked
 */
public record Candidate(String promptId, int sample, double logpPolicy, double logpRef, int length, boolean valid) {

    public Candidate {
        Objects.requireNonNull(promptId, "promptId");
        if (length < 0) {
            throw new IllegalArgumentException("length must be >= 0, got " + length + " (prompt " + promptId + ", sample " + sample + ")");
        }
    }

    /** The unscaled implicit reward log π_t − log π_{t−1}; β would only rescale it, so ranking ignores β. */
    public double reward() {
        return logpPolicy - logpRef;
    }
}
