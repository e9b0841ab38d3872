package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One visible training loop step at a time: any number of micro-batch forward/backward passes accumulate
 * into the parameters' gradients; {@link #gradients} packs them into flat buckets (where a data-parallel
 * caller all-reduces them); {@link #apply} clips by global norm, sets the learning rate and takes the
 * AdamW step; {@link #step} is both for a single process.
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);

    /**
     * {@code zeroStage} 1 or 2: the optimizer is a {@link ShardedAdamW} and steps through
     * {@link dev.dice.gpu.collective.DataParallel} (ZeRO, docs/data-parallel.md); 0: {@link AdamW}.
     */
    public record Settings(LrSchedule schedule, AdamW.Settings adam, double maxGradNorm, long bucketBytes,
            int zeroStage) {
        public Settings {
            if (zeroStage < 0 || zeroStage > 2) {
                throw new IllegalArgumentException("ZeRO stage must be 0, 1 or 2, not " + zeroStage);
            }
        }

        public Settings(LrSchedule schedule, AdamW.Settings adam, double maxGradNorm, long bucketBytes) {
            this(schedule, adam, maxGradNorm, bucketBytes, 0);
        }

        public static Settings of(LrSchedule schedule, double maxGradNorm) {
            return new Settings(schedule, AdamW.Settings.defaults(), maxGradNorm, GradBuckets.DEFAULT_BUCKET_BYTES);
        }

        public Settings withZeroStage(int stage) {
            return new Settings(schedule, adam, maxGradNorm, bucketBytes, stage);
        }
    }

    /** What one optimizer step did. */
    public record StepReport(int step, double learningRate, double gradNorm) {}

    /** Per micro-batch DPO figures: loss, share of pairs with chosen reward above rejected, mean margin. */
    public record DpoStats(double loss, double rewardAccuracy, double margin, double chosenReward,
            double rejectedReward) {}

    private final Llama model;
    private final Settings settings;
    private final Optimizer optimizer;
    private int skipped;
    private GradBuckets streaming; // the buckets a streamed step's last backward pass packs
    private IntConsumer layersFinished;

    public Trainer(Llama model, Settings settings) {
        this.model = model;
        this.settings = settings;
        this.optimizer = settings.zeroStage() == 0 ? new AdamW(settings.adam()) : new ShardedAdamW(settings.adam());
        model.requireGradients();
    }

    public Settings settings() {
        return settings;
    }

    public Llama model() {
        return model;
    }

    public Optimizer optimizer() {
        return optimizer;
    }

    /** SFT on one micro-batch; its loss enters the gradient with {@code weight} (1 / micro-batches). */
    public double sft(SequenceBatch batch, double weight) {
        try (NDScope scope = new NDScope()) {
            NDArray loss = backward(() -> Losses.sft(model, batch), weight);
            return loss.getFloat();
        }
    }

    /** DPO on one micro-batch of pairs (chosen rows, then rejected rows) with precomputed reference log-probs. */
    public DpoStats dpo(SequenceBatch pairs, float[] refChosen, float[] refRejected, double beta, double weight) {
        try (NDScope scope = new NDScope()) {
            Losses.Dpo[] out = new Losses.Dpo[1];
            NDArray loss = backward(() -> (out[0] = Losses.dpo(model, pairs, refChosen, refRejected, beta)).loss(),
                    weight);
            float[] c = out[0].chosenReward().toFloatArray();
            float[] r = out[0].rejectedReward().toFloatArray();
            double correct = 0;
            double margin = 0;
            double chosen = 0;
            double rejected = 0;
            for (int i = 0; i < c.length; i++) {
                correct += c[i] > r[i] ? 1 : 0;
                margin += c[i] - r[i];
                chosen += c[i];
                rejected += r[i];
            }
            int n = c.length;
            return new DpoStats(loss.getFloat(), correct / n, margin / n, chosen / n, rejected / n);
        }
    }

    private NDArray backward(Supplier<NDArray> lossOf, double weight) {
        if (streaming != null && streaming.packed() > 0) {
            throw new IllegalStateException("a streamed step's last micro-batch runs one backward pass, not several");
        }
        NDArray[] loss = new NDArray[1];
        NDArray weighted = Autograd.recording(() -> Scalars.mul(loss[0] = lossOf.get(), weight));
        Autograd.backward(weighted);
        // the layers a checkpointed or segmented forward pass left (none otherwise)
        model.backwardLayers(streaming == null ? layer -> {} : layersFinished);
        return loss[0];
    }

    /** The accumulated gradients as flat buckets, owned by {@code manager} (close them after {@link #apply}). */
    public GradBuckets gradients(NDManager manager) {
        return new GradBuckets(model.parameters(), manager, settings.bucketBytes());
    }

    /** Hears each gradient bucket once it is packed, in bucket order, on the thread running backward. */
    @FunctionalInterface
    public interface BucketSink {
        void packed(GradBuckets grads, int bucket);
    }

    /**
     * {@link #gradients(NDManager)} with the step's last micro-batch run in between: {@code lastBackward} runs one
     * forward and backward pass through this trainer, one decoder layer at a time from the top ({@link
     * Llama#backwardLayers}), and each bucket is packed and handed to {@code sink} as soon as backward has finished
     * every gradient in it, while backward goes on with the layers below (buckets run in reverse layer order). The
     * micro-batches before it have simply accumulated. The buckets hold what {@link #gradients(NDManager)} would.
     */
    public GradBuckets gradients(NDManager manager, Runnable lastBackward, BucketSink sink) {
        GradBuckets grads = GradBuckets.unpacked(model.parameters(), manager, settings.bucketBytes());
        int[] lowest = new int[grads.size()]; // the backward turn that finishes each bucket
        for (int i = 0; i < grads.size(); i++) {
            lowest[i] = grads.names(i).stream().mapToInt(model::layerOf).min().orElse(-1);
        }
        layersFinished = layer -> {
            while (grads.packed() < grads.size() && lowest[grads.packed()] >= layer) {
                int bucket = grads.packed();
                grads.packNext();
                sink.packed(grads, bucket);
            }
        };
        streaming = grads;
        model.segmentLayers(true);
        try {
            lastBackward.run();
        } finally {
            model.segmentLayers(false);
            streaming = null;
        }
        layersFinished.accept(-1); // a pass that ran no backward leaves every bucket to pack now
        return grads;
    }

    /**
     * Clips, steps the optimizer with {@code grads} and zeroes the parameters' gradients. A step whose gradient is
     * not finite (a NaN or an overflow anywhere) is skipped, not applied: one bad batch must not poison the weights.
     */
    public StepReport apply(GradBuckets grads) {
        if (!(optimizer instanceof AdamW adam)) {
            throw new IllegalStateException("ZeRO stage " + settings.zeroStage() + " steps through DataParallel");
        }
        double norm = grads.globalNorm();
        double lr = learningRate();
        if (!Double.isFinite(norm)) {
            skip(norm);
        } else {
            if (settings.maxGradNorm() > 0 && norm > settings.maxGradNorm()) {
                grads.scale(clipFactor(norm));
            }
            adam.step(model.parameters(), grads, lr);
        }
        zeroGradients();
        return new StepReport(adam.steps(), lr, norm);
    }

    /** The learning rate of the next optimizer step. */
    public double learningRate() {
        return settings.schedule().at(optimizer.steps());
    }

    /** What the gradients are multiplied by when their global norm is {@code norm}: 1 unless clipped. */
    public double clipFactor(double norm) {
        return settings.maxGradNorm() > 0 && norm > settings.maxGradNorm()
                ? settings.maxGradNorm() / (norm + 1e-6) : 1;
    }

    /** Counts a step not taken because its gradient norm is not finite. */
    public void skip(double norm) {
        skipped++;
        log.warn("step {}: gradient norm is {}; step skipped ({} so far)", optimizer.steps() + 1, norm, skipped);
    }

    /** Zeroes every parameter's accumulated gradient, in place, for the next step's backward passes. */
    public void zeroGradients() {
        model.parameters().values().forEach(Autograd::zeroGradient);
    }

    /** Steps skipped because their gradient was not finite. */
    public int skippedSteps() {
        return skipped;
    }

    /** {@link #gradients} then {@link #apply}, for a trainer that is alone. */
    public StepReport step() {
        try (NDManager scratch = model.manager().newSubManager(); GradBuckets grads = gradients(scratch)) {
            return apply(grads);
        }
    }
}
