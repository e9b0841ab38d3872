package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.Tokenizer;
import dev.dice.proto.PreferencePair;
import dev.dice.work.Policy;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * Trains one stage: SFT from scratch (or from a given checkpoint), or DPO from π_t with π_t as the frozen
 * reference — whose log-probs arrive with the pairs, computed once by a scorer. The result is written as a
 * checkpoint (weights, config, optimizer moments, trainer state) and announced. Spawn it on the model
 * dispatcher: a stage blocks its thread for its whole length.
 */
public final class TrainerActor extends AbstractBehavior<TrainerActor.Command> {

    public sealed interface Command {}

    /** SFT. {@code initDir} null: a fresh model of {@code config} initialised with the stage seed. */
    public record TrainSft(Path initDir, LlamaConfig config, List<Training.Example> data, Training.Settings settings,
            Path outDir, long version, ActorRef<Reply> replyTo) implements Command, Wire {}

    public record TrainDpo(Path initDir, List<PreferencePair> data, Training.Settings settings, Path outDir,
            long version, ActorRef<Reply> replyTo) implements Command, Wire {}

    public sealed interface Reply {}

    public record Progress(long version, Training.Step step, int totalSteps) implements Reply, Wire {}

    public record Trained(Path dir, long version, List<Training.Step> log) implements Reply, Wire {}

    /** What the trainer saves beside the weights so that a stage can resume exactly. */
    public record TrainerState(int step, long seed, long version) {}

    private final NDManager device;
    private final Tokenizer tokenizer;

    private TrainerActor(ActorContext<Command> context, NDManager device, Tokenizer tokenizer) {
        super(context);
        this.device = device;
        this.tokenizer = tokenizer;
    }

    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer) {
        return Behaviors.setup(context -> new TrainerActor(context, device, tokenizer));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(TrainSft.class, this::onSft)
                .onMessage(TrainDpo.class, this::onDpo)
                .build();
    }

    private Behavior<Command> onSft(TrainSft job) {
        try (Policy policy = job.initDir() != null ? Policy.load(job.initDir(), tokenizer, device, job.version())
                : new Policy(Llama.init(job.config(), device.newSubManager(), job.settings().seed()), tokenizer,
                        job.version())) {
            List<Training.Step> log = Training.sft(policy, job.data(), job.settings(),
                    step -> job.replyTo().tell(new Progress(job.version(), step, job.settings().steps())));
            finish(policy, job.settings(), job.outDir(), log, job.replyTo());
        }
        return this;
    }

    private Behavior<Command> onDpo(TrainDpo job) {
        try (Policy policy = Policy.load(job.initDir(), tokenizer, device, job.version())) {
            List<Training.Step> log = Training.dpo(policy, job.data(), job.settings(),
                    step -> job.replyTo().tell(new Progress(job.version(), step, job.settings().steps())));
            finish(policy, job.settings(), job.outDir(), log, job.replyTo());
        }
        return this;
    }

    private void finish(Policy policy, Training.Settings settings, Path outDir, List<Training.Step> log,
            ActorRef<Reply> replyTo) {
        policy.save(outDir);
        Checkpoint.writeJson(outDir.resolve("trainer_state.json"),
                new TrainerState(settings.steps(), settings.seed(), policy.version()));
        Checkpoint.writeJson(outDir.resolve("train_log.json"), log);
        replyTo.tell(new Trained(outDir, policy.version(), log));
    }

}
