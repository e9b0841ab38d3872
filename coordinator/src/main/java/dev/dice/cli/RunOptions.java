package dev.dice.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.coordinator.DiceRun;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/** The options that describe a run, shared by {@code run}, {@code node} and {@code local-cluster}. */
final class RunOptions {

    @Option(names = "--config", description = "HOCON file layered over the defaults (keys under dice { ... }).")
    Path config;

    @Option(names = "--preset", defaultValue = "default", description = "smoke (< 2 min) or default (<= 8 min on 2 cores).")
    String preset;

    @Option(names = "--seed", description = "Seed of the task, the model initialisation and every sample.")
    Long seed;

    @Option(names = "--out", description = "Run directory (default runs/<preset>).")
    Path out;

    @Option(names = "--rounds", description = "Number of DICE rounds (default 2).")
    Integer rounds;

    @Option(names = "--k", description = "Samples per prompt in a round (default 8).")
    Integer k;

    @Option(names = "--alpha", description = "auto (exact α*) or a fixed length penalty in nats per token (the"
            + " paper's α divided by β), e.g. 0.")
    String alpha;

    @Option(names = "--gamma", description = "Share of replayed offline pairs, in [0, 1) (default 0.5).")
    Double gamma;

    @Option(names = "--model", description = "Hugging Face checkpoint directory to use as the SFT model π0.")
    Path model;

    @Option(names = "--tokenizer", description = "Directory or tokenizer.json of --model's tokenizer.")
    Path tokenizer;

    @Option(names = "--no-chat-template", description = "Do not render prompts with the tokenizer's chat template.")
    Boolean noChatTemplate;

    @Option(names = "--activation-checkpointing", description = "Recompute each decoder layer's activations in"
            + " backward instead of keeping them (less memory, one more forward pass).")
    Boolean activationCheckpointing;

    @Option(names = "--zero-stage", description = "Shard the optimizer moments (1), and the gradients too (2), over"
            + " the trainers (ZeRO); 0: every trainer holds all of them.")
    Integer zeroStage;

    @Option(names = "--float32-weights", description = "Write every stage's weights as float32, not in the model's"
            + " released dtype.")
    Boolean float32Weights;

    @Option(names = "--system-prompt", description = "A system turn before every prompt (chat templates only).")
    String systemPrompt;

    @Option(names = "--prompts", description = "JSONL of prompts ({\"prompt\": ...}) for the rounds and evaluation.")
    Path prompts;

    @Option(names = "--offline-pairs", description = "JSONL of offline pairs (prompt, chosen, rejected).")
    Path offlinePairs;

    @Option(names = "--device", description = "cpu (default) or cuda:N.")
    String device;

    @Option(names = "--trainers", description = "Data-parallel trainers of the run: every training stage runs on a"
            + " ring of this many over gRPC, each trainer on its share of every batch (in a cluster: one per node with"
            + " the trainer role first). Default 1; 0: per device, one single-threaded trainer per core on a CPU with"
            + " the built-in model, else one.")
    Integer trainers;

    @Option(names = "--fp16-gradients", description = "Data-parallel trainers exchange their gradients as fp16 (half"
            + " the bytes; sums stay fp32).")
    Boolean fp16Gradients;

    @Option(names = "--metrics-port", description = "Serve Prometheus metrics on 127.0.0.1:PORT/metrics (0 = off).")
    Integer metricsPort;

    @Option(names = "--metrics-node", description = "The node label of this JVM's metrics (default: the host name).")
    String metricsNode;

    /** Defaults, then the preset, then --config, then these options. */
    Config resolve() {
        if ((model == null) != (tokenizer == null)) {
            throw new IllegalArgumentException("--model and --tokenizer go together");
        }
        Map<String, Object> overrides = new HashMap<>();
        put(overrides, "dice.seed", seed);
        put(overrides, "dice.out", out == null ? null : out.toString());
        put(overrides, "dice.rounds.count", rounds);
        put(overrides, "dice.rounds.k", k);
        put(overrides, "dice.rounds.alpha", alpha);
        put(overrides, "dice.rounds.gamma", gamma);
        put(overrides, "dice.model.dir", model == null ? null : model.toString());
        put(overrides, "dice.model.tokenizer", tokenizer == null ? null : tokenizer.toString());
        put(overrides, "dice.model.chat-template", noChatTemplate == null ? null : !noChatTemplate);
        put(overrides, "dice.model.system-prompt", systemPrompt);
        put(overrides, "dice.model.float32-weights", float32Weights);
        put(overrides, "dice.train.activation-checkpointing", activationCheckpointing);
        put(overrides, "dice.train.zero-stage", zeroStage);
        put(overrides, "dice.data.prompts", prompts == null ? null : prompts.toString());
        put(overrides, "dice.data.offline-pairs", offlinePairs == null ? null : offlinePairs.toString());
        put(overrides, "dice.device", device);
        put(overrides, "dice.metrics.port", metricsPort);
        put(overrides, "dice.metrics.node", metricsNode);
        put(overrides, "dice.cluster.trainers", trainers);
        put(overrides, "dice.cluster.fp16-gradients", fp16Gradients);
        return DiceRun.configure(ConfigFactory.parseMap(overrides), config, preset);
    }

    private static void put(Map<String, Object> map, String key, Object value) {
        if (value != null) {
            map.put(key, value);
        }
    }
}
