package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.CollectiveException;
import dev.dice.work.Policy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Supplier;

/**
 * Where a node gets one model version: its checkpoint {@code dir} in the run directory (relative to it, as the run
 * names it), the weights the trainer that made it publishes ({@code trainer}, null when it does not serve this
 * version) and the copy the coordinator's node serves of every checkpoint in its run directory ({@code copy}, null
 * when none is served; see {@link ModelCopies}). A node that has the checkpoint (the run directory is shared, or the
 * node holds the coordinator) fetches the trainer's weights or reads the file; a node that has not fetches the
 * trainer's weights or the coordinator node's copy, and reads nothing.
 */
public record ModelSource(long version, Path dir, PublishedWeights trainer, PublishedWeights copy) {

    /** A checkpoint on this node's disk, and nothing else. */
    public static ModelSource onDisk(long version, Path dir) {
        return new ModelSource(version, dir, null, null);
    }

    /** The same source with its checkpoint where {@code runDir} (this node's run directory) has it. */
    public ModelSource in(Path runDir) {
        return new ModelSource(version, runDir.resolve(dir), trainer, copy);
    }

    /** The version and checkpoint, what a worker compares to know whether it holds this model already. */
    public PolicyRef ref() {
        return new PolicyRef(version, dir);
    }

    /** Whether this node has the checkpoint (it reads it, or falls back to it when a fetch fails). */
    public boolean onThisNode() {
        return Files.isRegularFile(dir.resolve(Checkpoint.CONFIG_FILE));
    }

    /**
     * The model: the trainer's weights when it serves this version; else, or when that fetch fails, the checkpoint
     * on this node, or the coordinator node's copy when this node has no checkpoint.
     *
     * @throws IllegalStateException this node has no checkpoint and no node serves the version
     * @throws CollectiveException the coordinator node's copy could not be fetched either
     */
    WeightFetch.Fetched load(WeightFetch fetch, Duration timeout, Tokenizer tokenizer, NDManager device) {
        Supplier<WeightFetch.Fetched> otherwise = onThisNode()
                ? () -> new WeightFetch.Fetched(Policy.load(dir, tokenizer, device, version), dir.toString())
                : () -> fetchCopy(fetch, timeout, tokenizer, device);
        if (trainer != null && trainer.version() == version) {
            return fetch.fetch(trainer, otherwise, timeout, tokenizer, device);
        }
        return otherwise.get();
    }

    private WeightFetch.Fetched fetchCopy(WeightFetch fetch, Duration timeout, Tokenizer tokenizer, NDManager device) {
        if (copy == null || copy.version() != version) {
            throw new IllegalStateException(dir + ": this node has no checkpoint of v" + version + " and no node serves"
                    + " it");
        }
        return fetch.fetch(copy, () -> {
            throw new CollectiveException("v" + version + ": neither the trainer nor the coordinator's node "
                    + copy.publisher() + " could send it, and this node has no checkpoint " + dir);
        }, timeout, tokenizer, device);
    }
}
