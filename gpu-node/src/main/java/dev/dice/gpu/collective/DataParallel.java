package dev.dice.gpu.collective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.Trainer;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.zip.CRC32C;

/**
 * Data-parallel training over a {@link Collective} (the gRPC ring, or any backend behind the interface): each rank
 * runs its micro-steps on its own shard through the
 * {@link Trainer}, then {@link #step} averages the gradient buckets across ranks and every rank takes the
 * identical optimizer step. With equal shards and a loss that is a mean over the shard, the mean of the
 * per-rank gradients is the gradient of the whole global batch, so N ranks train exactly like one rank on
 * the concatenated batch (up to float rounding).
 *
 * <p>Gradients may travel as fp16 ({@link Collective.Precision#FP16}: half the bytes, sums still in fp32);
 * every rank still takes the identical step, but training is no longer equal to one rank's.
 *
 * <p>With {@link Trainer.Settings#zeroStage} 1 or 2 the step is {@link ZeroStep}'s: gradients are reduce-scattered,
 * each rank keeps optimizer moments for its part of every bucket only, and the new weights are all-gathered (ZeRO,
 * docs/data-parallel.md). Every rank still ends with the same weights.
 *
 * <p>Replicas must start from identical weights. Every {@code checkEvery} steps the ranks compare a CRC32C
 * of their parameters; a difference means they are training different models and fails loudly.
 */
public final class DataParallel {

    /** Hears about every gradient bucket this rank all-reduces (not about rings of one rank, which move nothing). */
    @FunctionalInterface
    public interface Traffic {
        /** @param bytesSent payload bytes this rank sent for the bucket ({@link Collective#bytesSent}) */
        void allReduced(long bytesSent, double seconds);

        Traffic NONE = (bytes, seconds) -> {};
    }

    private final Trainer trainer;
    private final Collective ring;
    private final int checkEvery;
    private final Collective.Precision gradients;
    private final Traffic traffic;
    private final boolean overlap;
    private final ZeroStep zero;
    private long gradientBytes;
    private int steps;

    /** @param checkEvery compare weight checksums every this many steps (0: never) */
    public DataParallel(Trainer trainer, Collective ring, int checkEvery) {
        this(trainer, ring, checkEvery, Collective.Precision.FP32);
    }

    /**
     * @param checkEvery compare weight checksums every this many steps (0: never)
     * @param gradients how gradients travel between ranks (FP16: compressed; default FP32)
     */
    public DataParallel(Trainer trainer, Collective ring, int checkEvery, Collective.Precision gradients) {
        this(trainer, ring, checkEvery, gradients, Traffic.NONE);
    }

    /** @param traffic told the bytes and time of each gradient bucket's all-reduce (metrics) */
    public DataParallel(Trainer trainer, Collective ring, int checkEvery, Collective.Precision gradients,
            Traffic traffic) {
        this(trainer, ring, checkEvery, gradients, traffic, false);
    }

    /** @param overlap {@link #step(Runnable)} all-reduces the gradient buckets while backward runs */
    public DataParallel(Trainer trainer, Collective ring, int checkEvery, Collective.Precision gradients,
            Traffic traffic, boolean overlap) {
        this.overlap = overlap;
        this.trainer = trainer;
        this.ring = ring;
        this.checkEvery = checkEvery;
        this.gradients = gradients;
        this.traffic = traffic;
        this.zero = trainer.settings().zeroStage() == 0 ? null : new ZeroStep(trainer, ring, traffic);
        if (zero != null && gradients != Collective.Precision.FP32) {
            throw new IllegalArgumentException("ZeRO stage " + trainer.settings().zeroStage() + " reduce-scatters fp32 "
                    + "gradients; " + gradients + " gradients need ZeRO stage 0");
        }
        if (zero != null) {
            // a rank whose restored moments belong to another place in another ring is refused before it trains
            ((dev.dice.gpu.ShardedAdamW) trainer.optimizer()).bind(ring.rank(), ring.world());
        }
    }

    /** All-reduces the accumulated gradients (mean), then clips and steps; every rank must call it. */
    public Trainer.StepReport step() {
        Trainer.StepReport report;
        if (zero != null) {
            report = zero.run();
            gradientBytes = zero.peakGradientBytes();
        } else {
            report = allReduceThenStep();
        }
        return stepped(report);
    }

    /**
     * The most bytes of flat gradient buffers (the buckets, and with ZeRO stage 2 the parts) this rank held at once
     * during its last step; the parameters' {@code .grad} not included.
     */
    public long gradientBufferBytes() {
        return gradientBytes;
    }

    private Trainer.StepReport allReduceThenStep() {
        Trainer.StepReport report;
        try (NDManager scratch = trainer.model().manager().newSubManager();
                GradBuckets grads = trainer.gradients(scratch)) {
            for (int i = 0; i < grads.size(); i++) {
                reduce(grads.buffer(i), i);
            }
            gradientBytes = bufferBytes(grads);
            report = trainer.apply(grads);
        }
        return report;
    }

    /**
     * {@link #step()} with the step's last micro-batch inside it: {@code lastBackward} runs one forward and backward
     * pass through the trainer. With overlap, each gradient bucket is all-reduced on this rank's communication thread
     * as soon as backward has finished it, while backward goes on with the layers below (as PyTorch DDP overlaps them);
     * the ranks issue the same collectives in the same order as {@link #step()} and take the same step, bit for bit.
     * Without, this is {@code lastBackward} then {@link #step()}. With ZeRO stage 2 and activation checkpointing,
     * overlap or not, each bucket is reduce-scattered and its {@code .grad} released as soon as backward has finished
     * it, on the thread running backward ({@link ZeroStep#run(Runnable)}), so a layer's gradients are freed while the
     * layers below are still in backward. Without checkpointing the forward pass's graph, alive until the micro-batch
     * ends, still holds every parameter with its gradient: the parts would only add to backward's peak, and stage 2
     * reduces after backward.
     */
    public Trainer.StepReport step(Runnable lastBackward) {
        if (zero != null && trainer.settings().zeroStage() == 2 && trainer.model().checkpointsActivations()) {
            Trainer.StepReport report = zero.run(lastBackward);
            gradientBytes = zero.peakGradientBytes();
            return stepped(report);
        }
        if (!overlap || zero != null || ring.world() == 1) {
            lastBackward.run();
            return step();
        }
        Trainer.StepReport report;
        try (NDManager scratch = trainer.model().manager().newSubManager();
                BucketSender sender = new BucketSender(ring, this::reduce)) {
            try (GradBuckets grads = trainer.gradients(scratch, lastBackward, (g, i) -> sender.send(g.buffer(i), i))) {
                sender.finish();
                gradientBytes = bufferBytes(grads);
                report = trainer.apply(grads);
            }
        }
        return stepped(report);
    }

    private static long bufferBytes(GradBuckets grads) {
        long bytes = 0;
        for (int i = 0; i < grads.size(); i++) {
            bytes += grads.buffer(i).capacity();
        }
        return bytes;
    }

    /** The mean of one gradient bucket over the ranks, in place in the tensor's own memory. */
    private void reduce(ByteBuffer bucket, int index) {
        long bytes = ring.bytesSent();
        long t0 = System.nanoTime();
        ring.allReduceMean(bucket, index, gradients);
        if (ring.world() > 1) {
            traffic.allReduced(ring.bytesSent() - bytes, (System.nanoTime() - t0) / 1e9);
        }
    }

    private Trainer.StepReport stepped(Trainer.StepReport report) {
        steps++;
        if (checkEvery > 0 && steps % checkEvery == 0) {
            checkWeights();
        }
        return report;
    }

    /** CRC32C over every parameter's bytes, in parameter order. */
    public int weightChecksum() {
        CRC32C crc = new CRC32C();
        for (NDArray p : trainer.model().parameters().values()) {
            crc.update(p.toByteBuffer());
        }
        return (int) crc.getValue();
    }

    /**
     * Compares weight checksums across ranks; every rank sees every checksum, so all ranks throw together.
     *
     * @throws WeightDivergenceException if any two ranks differ
     */
    public void checkWeights() {
        int[] all = gather(weightChecksum());
        for (int r = 1; r < all.length; r++) {
            if (all[r] != all[0]) {
                StringBuilder list = new StringBuilder();
                for (int i = 0; i < all.length; i++) {
                    list.append(i == 0 ? "" : ", ").append("rank ").append(i).append('=')
                            .append(String.format("%08x", all[i]));
                }
                throw new WeightDivergenceException("data-parallel replicas diverged after step " + steps
                        + ": weight CRC32C " + list + " (rank " + ring.rank() + " reporting)");
            }
        }
    }

    /**
     * An all-gather of one int per rank, built on the all-reduce: rank r puts its value, split into 16-bit
     * halves and scaled by R, at slots 2r and 2r+1 of a zero buffer. The mean of that is exact in fp32
     * (integers below 2^24, one non-zero term per slot), so it hands every rank every value unchanged.
     */
    int[] gather(int value) {
        int world = ring.world();
        ByteBuffer bytes = ByteBuffer.allocateDirect(8 * world).order(java.nio.ByteOrder.nativeOrder());
        FloatBuffer slots = bytes.asFloatBuffer();
        slots.put(2 * ring.rank(), (float) (world * (value >>> 16)));
        slots.put(2 * ring.rank() + 1, (float) (world * (value & 0xffff)));
        ring.allReduceMean(bytes, -1);
        int[] out = new int[world];
        for (int r = 0; r < world; r++) {
            out[r] = ((int) slots.get(2 * r) << 16) | (int) slots.get(2 * r + 1);
        }
        return out;
    }

    public int steps() {
        return steps;
    }
}
