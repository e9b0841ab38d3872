package dev.dice.coordinator;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;

/**
 * Turns the failure that ended a run into a {@link RunFault} when its cause is the environment's: the user then reads
 * one line with what to do, not a trace through the journal plugin.
 */
final class Faults {
    /** Less free space than this where the journal failed: the disk is full (H2 writes in pages of a few kB). */
    private static final long FULL_BELOW_BYTES = 1 << 20;

    private Faults() {}

    static RuntimeException classify(Throwable failure, RunConfig config) {
        if (failure instanceof RunFault || failure instanceof dev.dice.gpu.BadInputException) {
            return (RuntimeException) failure;
        }
        String kept = "finished stages and the results the journal stored are kept";
        // The failure that ends the run is the journal's last, often "circuit breaker open" by then: the disk itself
        // says whether it is full.
        boolean full = usableBytes(Path.of(config.out())) < FULL_BELOW_BYTES;
        for (Throwable t = failure; t != null; t = t.getCause()) {
            String message = String.valueOf(t.getMessage());
            if (message.contains("No space left on device") || full && isJournal(t)) {
                return new RunFault("no space left on the device of " + config.out() + ": free space and run the same"
                        + " command again (" + kept + ")", failure);
            }
        }
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (isJournal(t)) {
                return new RunFault("the journal " + journal(config) + " failed: " + journalCause(failure)
                        + "; once it is reachable, run the same command again (" + kept + ")", failure);
            }
        }
        return failure instanceof RuntimeException r ? r : new IllegalStateException(failure);
    }

    /** The deepest cause that says more than the circuit breaker the journal plugin puts in front of a failing database. */
    private static String journalCause(Throwable failure) {
        String said = "it does not answer";
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (!t.getClass().getName().contains("CircuitBreaker") && t.getMessage() != null
                    && !t.getMessage().contains("Circuit Breaker")) {
                said = t.getMessage();
            }
        }
        return said;
    }

    private static boolean isJournal(Throwable t) {
        return t instanceof SQLException || t.getClass().getName().endsWith("JournalFailureException");
    }

    private static long usableBytes(Path dir) {
        try {
            return Files.getFileStore(dir).getUsableSpace();
        } catch (IOException | RuntimeException e) {
            return Long.MAX_VALUE; // unknown: do not blame the disk
        }
    }

    private static String journal(RunConfig config) {
        return config.journal().kind().equals("postgres") ? "database " + config.journal().url()
                : "in " + config.out() + "/journal";
    }

    static Throwable root(Throwable t) {
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
