package dev.dice.cli;

import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import dev.dice.coordinator.Experiment;
import dev.dice.gpu.BadInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code dice experiment}: seeds × {α*, α = 0} × {γ = 0.5, 0}, with mean and spread per stage. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = "Test the paper's claims in miniature over several seeds; writes experiment.md and .json.")
final class ExperimentCommand implements Callable<Integer> {

    @Option(names = "--seeds", split = ",", defaultValue = "0,1,2", description = "Seeds (default 0,1,2).")
    List<Long> seeds;

    @Option(names = "--variants", split = ",", defaultValue = "alpha*:auto:0.5,alpha0:0:0.5,gamma0:auto:0",
            description = "name:alpha:gamma arms; the first per seed runs SFT and DPO, the rest reuse them.")
    List<String> variants;

    @Option(names = "--preset", defaultValue = "default", description = "smoke or default.")
    String preset;

    @Option(names = "--config", description = "HOCON file layered over the defaults.")
    Path config;

    @Option(names = "--out", defaultValue = "runs/experiment", description = "Output directory.")
    Path out;

    @Override
    public Integer call() throws Exception {
        List<Experiment.Variant> arms = new ArrayList<>();
        for (String v : variants) {
            String[] parts = v.split(":");
            if (parts.length != 3) {
                throw new BadInputException("--variants: '" + v + "' is not name:alpha:gamma");
            }
            arms.add(new Experiment.Variant(parts[0], parts[1], Double.parseDouble(parts[2])));
        }
        Files.createDirectories(out);
        Experiment.run(DiceRun.configure(ConfigFactory.empty(), config, preset), out, seeds, arms);
        System.out.print(Files.readString(out.resolve("experiment.md")));
        return 0;
    }
}
