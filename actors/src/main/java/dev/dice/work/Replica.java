package dev.dice.work;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Autograd;
import dev.dice.gpu.Llama;
import dev.dice.gpu.Trainer;
import dev.dice.gpu.collective.Collective;
import dev.dice.gpu.collective.DataParallel;
import dev.dice.gpu.collective.WeightDivergenceException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One rank of a data-parallel training stage (SFT or DPO, its {@link Objective}): its replica of the policy, its
 * optimizer, its place in a ring, and the synchronized states it can fall back to.
 *
 * <p>Step s takes global batch s — the same on every rank, and after a resume ({@link Training.Batches}) — and
 * trains on this rank's share of it, the share's loss weighted so that the mean over ranks is the batch's loss
 * (DPO: a mean over pairs, SFT: a mean over response tokens). {@link DataParallel} averages the gradients and every
 * rank takes the identical step. N ranks
 * therefore compute what one rank computes on the whole batch (up to float rounding), and so does a ring
 * re-formed with fewer ranks.
 *
 * <p>Every {@code checkEvery} steps, when joining a ring, and at the end, the ranks compare weight checksums. The
 * start and every check that passes is a <em>sync point</em>: the rank keeps a copy of its weights and optimizer state there.
 * After the ring fails, the survivors roll back to a common sync point and go on in a new ring. When a ring
 * breaks one rank may be a collective ahead of another (it received its last chunk, its neighbour did not), so
 * each keeps the last two sync points. With ZeRO ({@link Training.Settings#zeroStage}) a sync point holds this rank's
 * part of the optimizer moments only: it resumes in a ring of the same ranks, and a ring without them refuses it.
 */
public final class Replica<T> implements AutoCloseable {
    /** Bucket tag of the all-reduce that averages the step's loss and reward figures. */
    private static final int STATS_BUCKET = -2;

    /** A stage's loss as one rank of {@code world} computes it on its share of a global batch. */
    public interface Objective<T> {
        /**
         * Forward and backward of this rank's share of {@code batch}, its loss weighted so that the mean over the
         * ranks is the whole batch's loss (accumulating into the gradients); returns the step's figures, weighted alike.
         */
        double[] backward(Policy policy, Trainer trainer, List<T> batch, int rank, int world);

        /** The logged step, from the figures averaged over the ranks. */
        Training.Step logged(int step, float[] figures, double learningRate);
    }

    private final NDManager root;
    private final List<T> data;
    private final Training.Settings settings;
    private final Objective<T> objective;
    private final List<Training.Step> log = new ArrayList<>();
    private Policy policy;
    private Trainer trainer;
    private Training.Batches<T> batches;
    private int step;
    private Collective ring;
    private DataParallel parallel;
    private int checkEvery;
    private SyncPoint latest;
    private SyncPoint previous;

    /** Takes ownership of {@code start}, the policy every rank starts from. */
    public Replica(Policy start, List<T> data, Training.Settings settings, Objective<T> objective) {
        this.root = start.model().manager().getParentManager();
        this.data = data;
        this.settings = settings;
        this.objective = objective;
        this.policy = start;
        this.trainer = Training.trainer(start.model(), settings);
        this.batches = Training.Batches.from(data, settings.batch(), settings.seed(), 0);
        // Every rank loads the same checkpoint, and joining the ring checks it: the start is the first sync point.
        this.latest = SyncPoint.of(0, start, trainer, root.newSubManager());
    }

    /**
     * Takes this rank's place in {@code ring} at the current step: checks that every rank holds the same weights
     * and makes that a sync point. {@code ring} stays the caller's to close.
     *
     * @param checkEvery compare weight checksums every this many steps (at least 1)
     * @param gradients how the gradients travel (FP16 halves the bytes; the ranks stay identical)
     * @param traffic told the bytes and time of every gradient all-reduce
     * @param overlap all-reduce the gradient buckets while backward runs ({@link DataParallel#step(Runnable)})
     * @throws dev.dice.gpu.collective.CollectiveException the ring failed, or the replicas differ
     */
    public void join(Collective ring, int checkEvery, Collective.Precision gradients, DataParallel.Traffic traffic,
            boolean overlap) {
        if (checkEvery < 1) {
            throw new IllegalArgumentException("checkEvery must be at least 1, not " + checkEvery);
        }
        this.ring = ring;
        this.checkEvery = checkEvery;
        this.parallel = new DataParallel(trainer, ring, 0, gradients, traffic, overlap);
        synchronize();
    }

    /** Runs the next step on this rank's share of its global batch; every rank of the ring must call it. */
    public Training.Step step() {
        List<T> batch = batches.next();
        double[][] weighted = new double[1][];
        // with overlap, the gradient buckets are all-reduced while backward still runs; then the figures
        Trainer.StepReport report = parallel.step(
                () -> weighted[0] = objective.backward(policy, trainer, batch, ring.rank(), ring.world()));
        float[] figures = mean(weighted[0]);
        step++;
        Training.Step logged = objective.logged(step, figures, report.learningRate());
        log.add(logged);
        if (step % checkEvery == 0 || done()) {
            synchronize();
        }
        return logged;
    }

    /** The shares' figures, weighted like their losses, averaged over the ring: the whole batch's figures. */
    private float[] mean(double[] weighted) {
        ByteBuffer bytes = ByteBuffer.allocateDirect(4 * weighted.length).order(ByteOrder.nativeOrder());
        FloatBuffer floats = bytes.asFloatBuffer();
        for (int i = 0; i < weighted.length; i++) {
            floats.put(i, (float) weighted[i]);
        }
        ring.allReduceMean(bytes, STATS_BUCKET);
        float[] out = new float[weighted.length];
        floats.get(0, out);
        return out;
    }

    /** Compares weight checksums across the ring and keeps a sync point here. */
    private void synchronize() {
        try {
            parallel.checkWeights();
        } catch (WeightDivergenceException e) {
            throw new WeightDivergenceException("at step " + step + " of " + settings.steps() + ": " + e.getMessage());
        }
        if (latest.step() != step) {
            if (previous != null) {
                previous.close();
            }
            previous = latest;
            latest = SyncPoint.of(step, policy, trainer, root.newSubManager());
        }
    }

    /**
     * Restores the sync point at step {@code to} (weights, optimizer moments, data position, log), to go on in a
     * new ring; later sync points are dropped.
     */
    public void rollBack(int to) {
        SyncPoint point = latest.step() == to ? latest : previous != null && previous.step() == to ? previous : null;
        if (point == null) {
            throw new IllegalStateException("cannot resume from step " + to + ": this rank holds sync points at steps "
                    + heldSteps());
        }
        NDManager manager = root.newSubManager();
        Llama model = Llama.of(policy.model().config(), manager, Autograd.plainCopies(point.weights(), manager));
        Trainer restored = Training.trainer(model, settings);
        if (point.optimizerSteps() > 0) {
            restored.optimizer().restore(Autograd.plainCopies(point.moments(), manager), point.optimizerSteps(), model.parameters());
        }
        Policy before = policy;
        policy = new Policy(model, before.tokenizer(), before.version());
        trainer = restored;
        before.close();
        if (point != latest) {
            latest.close();
            latest = point;
            previous = null;
        }
        step = to;
        batches = Training.Batches.from(data, settings.batch(), settings.seed(), to);
        log.subList(to, log.size()).clear();
        ring = null;
        parallel = null;
    }

    private List<Integer> heldSteps() {
        List<Integer> held = new ArrayList<>();
        for (SyncPoint p : new SyncPoint[] {previous, latest}) {
            if (p != null) {
                held.add(p.step());
            }
        }
        return held;
    }

    public boolean done() {
        return step >= settings.steps();
    }

    /** Steps taken so far (the next step's index). */
    public int steps() {
        return step;
    }

    /** The step of the last sync point. */
    public int latestSync() {
        return latest.step();
    }

    public Policy policy() {
        return policy;
    }

    /** The steps logged so far, each with the whole global batch's figures. */
    public List<Training.Step> log() {
        return List.copyOf(log);
    }

    @Override
    public void close() {
        policy.close();
        for (SyncPoint p : new SyncPoint[] {previous, latest}) {
            if (p != null) {
                p.close();
            }
        }
    }

    /** A copy of a replica's weights and optimizer state after the weight check of step {@code step}. */
    private record SyncPoint(int step, NDManager manager, Map<String, NDArray> weights, Map<String, NDArray> moments,
            int optimizerSteps) implements AutoCloseable {

        static SyncPoint of(int step, Policy policy, Trainer trainer, NDManager manager) {
            return new SyncPoint(step, manager, Autograd.plainCopies(policy.model().parameters(), manager),
                    Autograd.plainCopies(trainer.optimizer().state(), manager), trainer.optimizer().steps());
        }

        @Override
        public void close() {
            manager.close();
        }
    }
}
