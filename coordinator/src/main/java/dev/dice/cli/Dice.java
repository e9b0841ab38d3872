package dev.dice.cli;

import dev.dice.gpu.BadInputException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code dice} command line: one subcommand per job. */
@Command(name = "dice", mixinStandardHelpOptions = true, version = "dice-cluster 0.1.0",
        description = "DICE: bootstrap a DPO-tuned language model with its own implicit reward.",
        subcommands = {RunCommand.class, NodeCommand.class, LocalClusterCommand.class, ExperimentCommand.class, BenchCommand.class,
                ReportCommand.class, LogprobsCommand.class,
                RandomModelCommand.class})
public final class Dice implements Runnable {

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(execute(new PrintWriter(System.err, true), args));
    }

    /** Runs one command line and returns its exit code: 0 done, 2 refused input (one line on {@code err}), 1 failed. */
    public static int execute(PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Dice()).setErr(err);
        // Refused input is the user's to fix: print the message that names the field, not a stack trace. Anything
        // else is a failure: print it and exit non-zero (never leave the JVM waiting on library threads).
        cli.setExecutionExceptionHandler((e, line, parsed) -> {
            if (e instanceof BadInputException || e instanceof IllegalArgumentException) {
                line.getErr().println("dice: " + e.getMessage());
                return 2;
            }
            e.printStackTrace(line.getErr());
            return 1;
        });
        return cli.execute(args);
    }
}
