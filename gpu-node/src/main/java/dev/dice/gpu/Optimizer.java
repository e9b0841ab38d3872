package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import java.util.Map;

/**
 * The state a trainer's optimizer carries from step to step, as sync points save and restore it: {@link AdamW} holds
 * the moments of every parameter, {@link ShardedAdamW} those of one rank's part of every gradient bucket (ZeRO).
 */
public sealed interface Optimizer permits AdamW, ShardedAdamW {

    /** Optimizer steps taken (they drive bias correction). */
    int steps();

    /** The state as named tensors (views of the live state; copy them to keep them). */
    Map<String, NDArray> state();

    /** Takes over a copy of {@link #state} saved at step {@code steps}; it is checked and used at the next step. */
    void restore(Map<String, NDArray> state, int steps, Map<String, NDArray> params);

    /** Bytes of optimizer state held now (0 before the first step). */
    long bytes();
}
