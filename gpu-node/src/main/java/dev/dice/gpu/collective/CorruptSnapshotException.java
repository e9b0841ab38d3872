package dev.dice.gpu.collective;

/** A weight snapshot arrived damaged (chunk CRC32C or whole-payload SHA-256 mismatch); nothing was installed. */
public final class CorruptSnapshotException extends CollectiveException {
    private static final long serialVersionUID = 1L;

    public CorruptSnapshotException(String message) {
        super(message);
    }
}
