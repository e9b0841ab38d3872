package dev.dice.cli;

import dev.dice.coordinator.RunFault;
import dev.dice.gpu.BadInputException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** The {@code dice} command line: one subcommand per job. */
@Command(name = "dice", mixinStandardHelpOptions = true, version = "dice-cluster 0.1.0",
        description = "DICE: bootstrap a DPO-tuned language model with its own implicit reward.",
        subcommands = {RunCommand.class, NodeCommand.class, LocalClusterCommand.class, ExperimentCommand.class, BenchCommand.class,
                ReportCommand.class, LogprobsCommand.class,
                RandomModelCommand.class, PlanCommand.class})
public final class Dice implements Runnable {

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(new PrintWriter(System.err, true), args));
    }

    @Option(names = "--verbose", scope = ScopeType.INHERIT,
            description = "On a failure, print the full stack trace too (by default one line names the cause).")
    boolean verbose;

    /** Runs one command line and returns its exit code: 0 done, 2 refused input (one line on {@code err}), 1 failed. */
    public static int execute(PrintWriter err, String... args) {
        Dice dice = new Dice();
        CommandLine cli = new CommandLine(dice).setErr(err);
        // Refused input is the user's to fix: one line per problem, naming the key, file or line, no stack trace. A
        // fault of the environment (disk, journal database) is one line with what to do, exit code 1. Anything else
        // is a failure: its cause in one line, the trace with --verbose (never leave the JVM waiting on library threads).
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            boolean refused = e instanceof BadInputException || e instanceof IllegalArgumentException;
            if (dice.verbose || verbose(parsed)) {
                e.printStackTrace(line.getErr());
            }
            String message = refused || e instanceof RunFault ? e.getMessage() : "failed: " + cause(e);
            for (String problem : String.valueOf(message).split("\n")) {
                line.getErr().println("dice: " + problem);
            }
            line.getErr().flush();
            return refused ? 2 : 1;
        });
        return cli.execute(args);
    }

    /** Whether --verbose was given to the subcommand that ran (an inherited option lives on each command's copy). */
    private static boolean verbose(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult p = parsed; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    /** The innermost cause, with what wrapped it where that adds a name (an actor, a file). */
    private static String cause(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String first = e.getClass().getSimpleName() + ": " + e.getMessage();
        String last = root.getClass().getSimpleName() + ": " + root.getMessage();
        return (root == e ? first : first + "; caused by " + last) + " (--verbose for the stack trace)";
    }
}
