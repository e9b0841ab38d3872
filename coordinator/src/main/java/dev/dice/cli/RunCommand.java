package dev.dice.cli;

import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.StageResult;
import dev.dice.coordinator.Summary;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code dice run}: SFT → DPO → DICE rounds, on the embedded default or on your own model and data. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Run DICE end to end in this JVM (every role on a one-node cluster). Re-running the same"
                + " --out resumes: finished stages are skipped.")
final class RunCommand implements Callable<Integer> {

    @Mixin
    RunOptions run;

    @Override
    public Integer call() {
        List<StageResult> stages = DiceRun.run(run.resolve());
        System.out.print(Summary.table(stages));
        return 0;
    }
}
