package dev.dice.coordinator;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigValueFactory;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.IntraOpThreads;

/**
 * {@code dice.cluster.trainers = 0}, per device: how many trainers a single-process run trains on. On a CPU with the
 * built-in model, one single-threaded trainer per core (a data-parallel ring in the JVM): at the small model's shapes
 * a replica's half batch costs less CPU than a whole batch on a second intra-op thread saves (docs/benchmarks.md,
 * trainer replicas). With a checkpoint's model, one trainer on every core: its operations are large enough to split,
 * and each replica would hold the model's weights, gradients and optimizer moments again. On a GPU, one. A cluster
 * run reads 0 as one trainer: a ring across nodes is sized by whoever places the nodes.
 */
public final class TrainersPerDevice {
    private TrainersPerDevice() {}

    /** The ring of a single-process run: {@code cores} trainers on a CPU with the built-in model, within the batch. */
    public static int of(boolean gpu, boolean builtinModel, int cores, int smallestDpoBatch) {
        return gpu || !builtinModel ? 1 : Math.max(1, Math.min(cores, smallestDpoBatch));
    }

    /**
     * {@code root} with {@code dice.cluster.trainers} 0 replaced by {@link #of} for this JVM ({@code cores}: its
     * libtorch threads, one per core unless DICE_THREADS says otherwise); unchanged when set, or when the keys it reads
     * are wrong (the configuration's check names them).
     */
    public static Config resolve(Config root) {
        try {
            if (root.getInt("dice.cluster.trainers") != 0) {
                return root;
            }
            int trainers = of(DeviceName.djl(root.getString("dice.device")).isGpu(),
                    root.getString("dice.model.dir").isEmpty(), IntraOpThreads.jvmDefault(),
                    Math.min(root.getInt("dice.dpo.batch"), root.getInt("dice.rounds.batch")));
            return root.withValue("dice.cluster.trainers", ConfigValueFactory.fromAnyRef(trainers));
        } catch (ConfigException | BadInputException e) {
            return root;
        }
    }
}
