package dev.dice.coordinator;

import java.sql.SQLException;

/**
 * Turns the failure that ended a run into a {@link RunFault} when its cause is the environment's: the user then reads
 * one line with what to do, not a trace through the journal plugin.
 */
final class Faults {
    private Faults() {}

    static RuntimeException classify(Throwable failure, RunConfig config) {
        if (failure instanceof RunFault || failure instanceof dev.dice.gpu.BadInputException) {
            return (RuntimeException) failure;
        }
        String kept = "finished stages and the results the journal stored are kept";
        for (Throwable t = failure; t != null; t = t.getCause()) {
            String message = String.valueOf(t.getMessage());
            if (message.contains("No space left on device")) {
                return new RunFault("no space left on the device of " + config.out() + ": free space and run the same"
                        + " command again (" + kept + ")", failure);
            }
        }
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof SQLException || t.getClass().getName().endsWith("JournalFailureException")) {
                return new RunFault("the journal " + journal(config) + " failed: " + root(failure).getMessage()
                        + "; once it is reachable, run the same command again (" + kept + ")", failure);
            }
        }
        return failure instanceof RuntimeException r ? r : new IllegalStateException(failure);
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
