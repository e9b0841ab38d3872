package dev.dice.cli;

import dev.dice.report.RunReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code dice report DIR}: (re)writes DIR/report.html for a run or an experiment directory. */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Write DIR/report.html (self-contained, charts embedded) for a run directory or an experiment"
                + " directory: win rates per stage, lengths per round, chosen/rejected length histograms at α = 0 and"
                + " α*, the α → length-gap curve, DPO loss and reward accuracy over steps.")
final class ReportCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "DIR", description = "A run directory (--out of dice run) or an experiment directory.")
    Path dir;

    @Override
    public Integer call() {
        if (!Files.isDirectory(dir)) {
            throw new IllegalArgumentException("report: " + dir + " is not a directory");
        }
        Path out = RunReport.write(dir);
        System.out.println(out);
        return 0;
    }
}
