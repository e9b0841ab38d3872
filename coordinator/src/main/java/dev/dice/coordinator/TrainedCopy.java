package dev.dice.coordinator;

import dev.dice.actors.ModelCopies;
import dev.dice.actors.TrainerActor;
import dev.dice.gpu.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A stage's model in the coordinator's run directory. Rank 0 of the ring writes it into its own node's run directory:
 * the coordinator's when the directory is shared or rank 0 runs beside the coordinator, and then it is there already.
 * Otherwise the coordinator's node fetches the published weights and writes the model (weights, config, the files
 * of the model it was trained from, the trainer's state and log) as rank 0 did.
 */
final class TrainedCopy {
    private TrainedCopy() {}

    static void intoRunDirectory(RunPlan plan, ModelCopies copies, TrainingJob.Task task, TrainerActor.Trained trained) {
        Path dir = plan.dir().resolve(task.outDir());
        if (Files.isRegularFile(dir.resolve(Checkpoint.CONFIG_FILE)) && Files.isRegularFile(dir.resolve(RunDirectory.TRAIN_LOG))) {
            return;
        }
        Path from = task.start() instanceof TrainingJob.Dpo dpo ? plan.dir().resolve(dpo.init().dir()) : null;
        copies.fetchInto(trained.weights(), dir, from, task.float32Weights(), plan.config().trainers().weightFetchTimeout());
        Checkpoint.writeJson(dir.resolve("trainer_state.json"), new TrainerActor.TrainerState(task.settings().steps(),
                task.settings().seed(), task.version()));
        Checkpoint.writeJson(dir.resolve(RunDirectory.TRAIN_LOG), trained.log()); // last: the model is complete
    }
}
