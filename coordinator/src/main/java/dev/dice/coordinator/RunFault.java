package dev.dice.coordinator;

/**
 * A run stopped by its environment (a full disk, a journal database that is gone), not by its input: the message is
 * one line naming the cause, what was kept and how to go on. Exit code 1.
 */
public final class RunFault extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public RunFault(String message, Throwable cause) {
        super(message, cause);
    }
}
