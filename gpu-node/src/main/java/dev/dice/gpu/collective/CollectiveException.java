package dev.dice.gpu.collective;

/**
 * A collective operation failed: a peer died, stalled past the timeout, left the ring, sent data that does
 * not match this rank's operation, or a snapshot failed verification. The step it interrupted must be
 * abandoned; the ring is unusable afterwards and has to be re-formed.
 */
public class CollectiveException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CollectiveException(String message) {
        super(message);
    }

    public CollectiveException(String message, Throwable cause) {
        super(message, cause);
    }
}
