package dev.dice.coordinator;

import dev.dice.actors.ModelCopies;
import dev.dice.actors.ModelSource;
import dev.dice.actors.PublishedWeights;
import dev.dice.actors.TrainerActor;
import java.util.List;

/**
 * Where the run's models come from, for the coordinator's jobs and training stages: the weights the last training
 * published (workers fetch them instead of reading the checkpoint), the checkpoints of the run directory, and the
 * copies the coordinator's node serves of them ({@link ModelCopies}) for nodes that do not share the directory.
 */
final class RunModels {
    private final RunPlan plan;
    private final ModelCopies copies;
    private PublishedWeights published;

    RunModels(RunPlan plan, ModelCopies copies) {
        this.plan = plan;
        this.copies = copies;
    }

    /**
     * {@code plain} with the weights the trainer published when they are the job's version, the copies of its
     * policy and reference (the only versions served from now on) and the stamp of its checkpoints.
     */
    JobSpec forJob(JobSpec plain) {
        JobSpec.ScoringModels scoring = plain.scoring();
        copies.retain(scoring == null ? List.of(plain.version()) : List.of(plain.version(), scoring.referenceVersion()));
        return plain.withModels(publishedAs(plain.version()), plan.dir().stamp(plain))
                .withCopies(copies.serve(plain.version(), plan.modelDir((int) plain.version())), scoring == null ? null
                        : copies.serve(scoring.referenceVersion(), plan.dir().resolve(scoring.referenceDir())));
    }

    /** The model of stage index {@code s} as a trainer gets it: checkpoint, published weights, copy. */
    ModelSource source(int s) {
        return new ModelSource(s, plan.dir().stored(plan.modelDir(s)), publishedAs(s), copies.serve(s, plan.modelDir(s)));
    }

    /** {@code task}'s stage is trained: its weights are the published ones, its model is (fetched) in the run directory. */
    void trained(TrainingJob.Task task, TrainerActor.Trained trained) {
        published = trained.weights();
        copies.forget(task.version()); // written anew
        TrainedCopy.intoRunDirectory(plan, copies, task, trained);
        plan.modelWritten(task.stage());
    }

    private PublishedWeights publishedAs(long version) {
        return published != null && published.version() == version ? published : null;
    }
}
