package dev.dice.cli;

import dev.dice.gpu.BadInputException;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.MemoryPlan;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code dice plan}: the memory a trainer, a generator and a scorer need for a model's config.json, term by term, and
 * whether each fits the device (docs/memory.md). Reads only config.json: no weights, no libtorch.
 */
@Command(name = "plan", mixinStandardHelpOptions = true,
        description = "Print the memory plan per trainer, generator and scorer for --model's config.json (a table, then"
                + " JSON on the last line). Figures are what the code allocates (fp32), ZeRO stages"
                + " (dice.train.zero-stage) included.")
final class PlanCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Checkpoint directory (or its config.json).")
    Path model;

    @Option(names = "--trainers", defaultValue = "1", description = "Trainers in the ring (default ${DEFAULT-VALUE}).")
    int trainers;

    @Option(names = "--device-memory", defaultValue = "80GiB",
            description = "Memory of one device, e.g. 80GiB, 40GB (default ${DEFAULT-VALUE}).")
    String deviceMemory;

    @Option(names = "--zero-stage", defaultValue = "0", description = "0, 1 or 2 (default ${DEFAULT-VALUE}).")
    int zeroStage;

    @Option(names = "--activation-checkpointing", description = "Keep only each decoder layer's input.")
    boolean activationCheckpointing;

    @Option(names = "--micro-batch-tokens", defaultValue = "4096",
            description = "Tokens of one trainer micro-batch (default ${DEFAULT-VALUE}).")
    long microBatchTokens;

    @Option(names = "--sequence-length", description = "Tokens per row (default: prompt + new tokens).")
    Integer sequenceLength;

    @Option(names = "--batch-rows", defaultValue = "128",
            description = "Rows a generator decodes and a scorer scores at once: dice.cluster.batch-rows"
                    + " (default ${DEFAULT-VALUE}).")
    int batchRows;

    @Option(names = "--prompt-tokens", defaultValue = "512", description = "Prompt tokens (default ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--new-tokens", defaultValue = "512",
            description = "Sampled tokens, dice.rounds.max-new-tokens (default ${DEFAULT-VALUE}).")
    int newTokens;

    @Override
    public Integer call() {
        Path config = Files.isDirectory(model) ? model.resolve(Checkpoint.CONFIG_FILE) : model;
        LlamaConfig c = LlamaConfig.load(config);
        int seq = sequenceLength != null ? sequenceLength : promptTokens + newTokens;
        if (trainers < 1 || zeroStage < 0 || zeroStage > 2 || seq < 1 || microBatchTokens < seq || batchRows < 1) {
            throw new BadInputException("plan: need --trainers >= 1, --zero-stage 0..2, --micro-batch-tokens >= the"
                    + " sequence length (" + seq + "), --batch-rows >= 1");
        }
        if (seq > c.context()) {
            throw new BadInputException("plan: sequences of " + seq + " tokens exceed the model's context of "
                    + c.context());
        }
        MemoryPlan.Settings s = new MemoryPlan.Settings(trainers, MemoryPlan.parseBytes(deviceMemory), zeroStage,
                activationCheckpointing, microBatchTokens / seq * seq, seq, batchRows, promptTokens, newTokens,
                batchRows, GradBuckets.DEFAULT_BUCKET_BYTES);
        MemoryPlan.Plan plan = MemoryPlan.of(c, s);
        MemoryPlan.Plan fit = MemoryPlan.smallestFit(c, s);
        int genRows = MemoryPlan.generatorRowsThatFit(c, s);
        int scoreRows = scorerRowsThatFit(c, s);
        print(System.out, config, plan, fit, genRows, scoreRows);
        System.out.println(Json.write(json(plan, fit, genRows, scoreRows)));
        return 0;
    }

    private static int scorerRowsThatFit(LlamaConfig c, MemoryPlan.Settings s) {
        for (int rows = s.scorerRows(); rows >= 1; rows /= 2) {
            MemoryPlan.Settings t = new MemoryPlan.Settings(s.trainers(), s.deviceBytes(), s.zeroStage(),
                    s.activationCheckpointing(), s.microBatchTokens(), s.sequenceLength(), s.generatorRows(),
                    s.promptTokens(), s.newTokens(), rows, s.bucketBytes());
            if (MemoryPlan.of(c, t).scorerFits()) {
                return rows;
            }
        }
        return 0;
    }

    static void print(PrintStream out, Path config, MemoryPlan.Plan p, MemoryPlan.Plan fit, int genRows,
            int scoreRows) {
        MemoryPlan.Settings s = p.settings();
        MemoryPlan.Trainer t = p.trainer();
        MemoryPlan.Generator g = p.generator();
        MemoryPlan.Scorer sc = p.scorer();
        out.printf(Locale.ROOT, "%s: %,d parameters, %d layers, vocab %d; device %s; %d trainer(s), ZeRO %d%s,"
                + " micro-batch %d x %d tokens; generator/scorer %d rows x (%d + %d) tokens%n", config,
                p.parameters(), p.config().numHiddenLayers(), p.config().vocabSize(), gib(s.deviceBytes()),
                s.trainers(), s.zeroStage(), s.activationCheckpointing() ? ", activation checkpointing" : "",
                s.rows(), s.sequenceLength(), s.generatorRows(), s.promptTokens(), s.newTokens());
        String row = "%-34s %12s %12s %12s%n";
        out.printf(row, "GiB (fp32)", "trainer", "generator", "scorer");
        out.printf(row, "weights", gib(t.weights()), gib(g.weights()), gib(sc.weights()) + "*");
        out.printf(row, "gradients (.grad)", gib(t.gradients()), "-", "-");
        out.printf(row, "  kept between steps", gib(t.gradientsKept()), "-", "-");
        out.printf(row, "gradient buckets (flat; ZeRO-2 parts)", gib(t.gradientBuckets()), "-", "-");
        out.printf(row, "optimizer state (AdamW m, v)", gib(t.optimizer()), "-", "-");
        out.printf(row, "optimizer step scratch", gib(t.optimizerScratch()), "-", "-");
        out.printf(row, "activations", gib(t.activations()), gib(g.prefillActivations()) + "p", gib(sc.activations()));
        out.printf(row, "logits (+ log-softmax)", gib(t.logits()), gib(g.prefillLogits()) + "p", gib(sc.logits()));
        out.printf(row, "backward working set", gib(t.backwardWorkingSet()), "-", "-");
        out.printf(row, "KV cache (+ last decoding step)", "-", gib(g.kvCache()) + "+" + gib(g.decodeWorkingSet()),
                "-");
        out.printf(row, "peak", gib(t.peak()), gib(g.peak()), gib(sc.peak()));
        out.printf(row, "fits " + gib(s.deviceBytes()), p.trainerFits() ? "yes" : "NO", p.generatorFits() ? "yes" : "NO",
                p.scorerFits() ? "yes" : "NO");
        out.println("  trainer peak = max(backward " + gib(t.backwardPhase()) + ", optimizer step " + gib(t.stepPhase())
                + "); p = prefill of the prompts; * policy + reference");
        if (!p.trainerFits()) {
            out.println("  trainer: " + (fit == null ? "no setting fits (ZeRO <= 2, checkpointing, one row per micro-batch)"
                    : "smallest setting that fits: " + describe(fit)));
        }
        if (!p.generatorFits()) {
            out.println("  generator: " + (genRows == 0 ? "not even one row fits" : "fits with --batch-rows " + genRows));
        }
        if (!p.scorerFits()) {
            out.println("  scorer: " + (scoreRows == 0 ? "not even one row fits" : "fits with --batch-rows " + scoreRows));
        }
    }

    private static String describe(MemoryPlan.Plan f) {
        MemoryPlan.Settings s = f.settings();
        return "--zero-stage " + s.zeroStage() + (s.activationCheckpointing() ? " --activation-checkpointing" : "")
                + " --micro-batch-tokens " + s.microBatchTokens() + " (peak " + gib(f.trainer().peak()) + ")";
    }

    private static Map<String, Object> json(MemoryPlan.Plan p, MemoryPlan.Plan fit, int genRows, int scoreRows) {
        Map<String, Object> out = new LinkedHashMap<>();
        MemoryPlan.Settings s = p.settings();
        out.put("parameters", p.parameters());
        out.put("device_bytes", s.deviceBytes());
        out.put("trainers", s.trainers());
        out.put("zero_stage", s.zeroStage());
        out.put("activation_checkpointing", s.activationCheckpointing());
        out.put("micro_batch_tokens", s.microBatchTokens());
        out.put("sequence_length", s.sequenceLength());
        out.put("batch_rows", s.generatorRows());
        out.put("trainer", p.trainer());
        out.put("trainer_fits", p.trainerFits());
        out.put("generator", p.generator());
        out.put("generator_fits", p.generatorFits());
        out.put("scorer", p.scorer());
        out.put("scorer_fits", p.scorerFits());
        if (fit != null) {
            out.put("trainer_fit", Map.of("zero_stage", fit.settings().zeroStage(), "activation_checkpointing",
                    fit.settings().activationCheckpointing(), "micro_batch_tokens", fit.settings().microBatchTokens(),
                    "peak", fit.trainer().peak()));
        } else {
            out.put("trainer_fit", null);
        }
        out.put("generator_rows_that_fit", genRows);
        out.put("scorer_rows_that_fit", scoreRows);
        return out;
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.2f", bytes / (double) (1L << 30));
    }
}
