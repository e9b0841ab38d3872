package dev.dice.gpu.collective;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import dev.dice.gpu.GradBuckets;
import dev.dice.gpu.MemoryPlan;
import dev.dice.gpu.ShardedAdamW;
import dev.dice.gpu.Trainer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One data-parallel optimizer step with sharded optimizer state (ZeRO): each gradient bucket is reduce-scattered, so
 * rank r ends with the ranks' mean over its part of the bucket (1/R of it); the global norm is summed over the parts;
 * {@link ShardedAdamW} turns each part's gradient into the part's new weights; an all-gather hands every rank every
 * part, which is copied into the parameters. The ranks end with identical weights, the weights one {@link
 * dev.dice.gpu.AdamW} would compute on the whole buckets.
 *
 * <p>Stage 1 packs every bucket at once, as stage 0 does ({@link GradBuckets}), and gathers the new weights in the
 * bucket's own memory; the parameters' {@code .grad} stays, zeroed, for the next step. Stage 2 packs, reduces and
 * frees one bucket at a time, keeping a copy of its part only, and releases the {@code .grad} of the bucket's
 * parameters as soon as it is packed ({@link dev.dice.gpu.Llama#releaseGradients}); it gathers each bucket's new
 * weights in a fresh bucket-sized buffer. So a stage-2 step holds at most one full bucket besides the parts and the
 * gradients not yet packed, and keeps no gradient once it ends.
 */
final class ZeroStep {
    private final Trainer trainer;
    private final Collective ring;
    private final DataParallel.Traffic traffic;
    private final int stage;
    private long gradientBytes;
    private long peakGradientBytes;
    private long[] bytes; // sent for each bucket this step
    private double[] seconds; // spent on each bucket's collectives this step

    ZeroStep(Trainer trainer, Collective ring, DataParallel.Traffic traffic) {
        this.trainer = trainer;
        this.ring = ring;
        this.traffic = traffic;
        this.stage = trainer.settings().zeroStage();
    }

    /** The most bytes of flat gradient buffers (buckets and parts) the last step held at once. */
    long peakGradientBytes() {
        return peakGradientBytes;
    }

    Trainer.StepReport run() {
        return run(null);
    }

    /**
     * With {@code lastBackward} (stage 2 only), the step's last micro-batch runs inside the step, one decoder layer
     * at a time from the top ({@link Trainer#gradients(NDManager, Runnable, Trainer.BucketSink)}): each bucket is
     * packed, its {@code .grad} released and reduce-scattered as soon as backward has finished every gradient in it,
     * on the thread running backward, while the layers below are still to come. Every rank finishes its buckets in
     * the same order, so the ranks issue the same collectives in the same order as {@link #run()}, and take the same
     * step bit for bit.
     */
    Trainer.StepReport run(Runnable lastBackward) {
        ShardedAdamW adam = (ShardedAdamW) trainer.optimizer();
        adam.bind(ring.rank(), ring.world());
        Map<String, NDArray> params = trainer.model().parameters();
        List<List<String>> layout = GradBuckets.layout(params, trainer.settings().bucketBytes());
        gradientBytes = 0;
        peakGradientBytes = 0;
        bytes = new long[layout.size()];
        seconds = new double[layout.size()];
        double norm;
        double lr = trainer.learningRate();
        try (NDManager scratch = trainer.model().manager().newSubManager()) {
            List<NDArray> buckets = new ArrayList<>(); // stage 1: every bucket, for gathering its new weights
            List<NDArray> grads = new ArrayList<>();
            List<ShardedAdamW.Part> parts = new ArrayList<>();
            if (lastBackward == null) {
                for (int i = 0; i < layout.size(); i++) {
                    reduce(i, held(GradBuckets.pack(layout.get(i), params, scratch)), layout.get(i), buckets, grads,
                            parts);
                }
            } else {
                if (stage != 2) {
                    throw new IllegalStateException("ZeRO stage " + stage + " reduces after backward");
                }
                try (GradBuckets streamed = trainer.gradients(scratch, lastBackward, (g, i) -> {
                    reduce(i, held(g.bucket(i)), g.names(i), buckets, grads, parts);
                    g.free(i); // its parameters' views of it: the part is a copy
                })) {
                    // packed, reduced and freed bucket by bucket while backward ran
                } catch (RuntimeException e) {
                    ring.abort("its backward pass failed"); // the other ranks must not wait out their timeout
                    throw e;
                }
            }
            norm = Math.sqrt(sumOverRanks(squaredNorm(grads)));
            if (!Double.isFinite(norm)) {
                trainer.skip(norm); // every rank saw the same sum: every rank skips
            } else {
                double clip = trainer.clipFactor(norm);
                if (clip != 1) {
                    grads.forEach(g -> g.muli(clip));
                }
                adam.step(params, parts, grads, lr, (weights, i) -> {
                    NDArray bucket = stage == 1 ? buckets.get(i) : held(scratch.zeros(new Shape(floats(layout.get(i),
                            params))));
                    long sent = ring.bytesSent();
                    long t0 = System.nanoTime();
                    if (weights != null) {
                        buffer(bucket).position(MemoryPlan.FLOAT * (int) parts.get(i).from()).put(buffer(weights));
                    }
                    ring.allGather(buffer(bucket), i);
                    bytes[i] += ring.bytesSent() - sent;
                    seconds[i] += (System.nanoTime() - t0) / 1e9;
                    copyInto(bucket, layout.get(i), params);
                    if (stage == 2) {
                        release(bucket);
                        release(grads.get(i));
                    }
                });
            }
            trainer.zeroGradients();
        }
        if (ring.world() > 1) {
            for (int i = 0; i < bytes.length; i++) {
                traffic.allReduced(bytes[i], seconds[i]);
            }
        }
        return new Trainer.StepReport(adam.steps(), lr, norm);
    }

    /**
     * Reduce-scatters bucket {@code i}, holding the gradients of {@code names}, and keeps this rank's part of the mean:
     * at stage 1 a view of the bucket, which stays for gathering the new weights; at stage 2 a copy, the bucket freed,
     * and the parameters' {@code .grad} released as soon as the bucket holds them.
     */
    private void reduce(int i, NDArray bucket, List<String> names, List<NDArray> buckets, List<NDArray> grads,
            List<ShardedAdamW.Part> parts) {
        if (stage == 2) {
            trainer.model().releaseGradients(names);
        }
        long sent = ring.bytesSent();
        long t0 = System.nanoTime();
        Collective.Segment mine = ring.reduceScatterMean(buffer(bucket), i);
        bytes[i] = ring.bytesSent() - sent;
        seconds[i] = (System.nanoTime() - t0) / 1e9;
        parts.add(new ShardedAdamW.Part(names, mine.from(), mine.count()));
        NDArray part = bucket.get(mine.from() + ":" + (mine.from() + mine.count()));
        if (stage == 1) {
            buckets.add(bucket);
            grads.add(part); // a view of the bucket
        } else {
            NDArray copy = part.duplicate();
            NDScope.unregister(copy); // the step's, not the micro-batch's scope a streamed backward runs in
            grads.add(held(copy));
            part.close();
            release(bucket);
        }
    }

    /** Σ g² over this rank's parts, each part summed in fp32 (as {@link GradBuckets#globalNorm} sums a bucket). */
    private static double squaredNorm(List<NDArray> grads) {
        double sum = 0;
        for (NDArray g : grads) {
            if (g.size() > 0) {
                try (NDArray sq = g.square(); NDArray s = sq.sum()) {
                    sum += s.getFloat();
                }
            }
        }
        return sum;
    }

    /**
     * The sum over the ranks of one double each, exactly and the same on every rank: each rank's value travels as two
     * floats (its fp32 rounding and the rest) in the rank's part of a 2R-float all-gather, and every rank adds them
     * in rank order.
     */
    private double sumOverRanks(double value) {
        int world = ring.world();
        ByteBuffer bytes = ByteBuffer.allocateDirect(8 * world).order(ByteOrder.nativeOrder());
        FloatBuffer floats = bytes.asFloatBuffer();
        float high = (float) value;
        int at = ring.part(2 * world, ring.rank()).from();
        floats.put(at, high);
        floats.put(at + 1, (float) (value - high));
        ring.allGather(bytes, -3);
        double sum = 0;
        for (int r = 0; r < world; r++) {
            int from = ring.part(2 * world, r).from();
            sum += (double) floats.get(from) + floats.get(from + 1);
        }
        return sum;
    }

    /** Copies a bucket of new weights into the parameters it holds, in its order. */
    private static void copyInto(NDArray bucket, List<String> names, Map<String, NDArray> params) {
        ByteBuffer source = buffer(bucket);
        int offset = 0;
        for (String name : names) {
            NDArray p = params.get(name);
            int length = (int) p.size() * MemoryPlan.FLOAT;
            buffer(p).put(source.slice(offset, length));
            offset += length;
        }
    }

    private static long floats(List<String> names, Map<String, NDArray> params) {
        return names.stream().mapToLong(n -> params.get(n).size()).sum();
    }

    /** A tensor's own memory as native-order bytes; writes go straight to it. */
    private static ByteBuffer buffer(NDArray array) {
        return JniUtils.getByteBuffer((PtNDArray) array, true).order(ByteOrder.nativeOrder());
    }

    private NDArray held(NDArray gradientBuffer) {
        gradientBytes += MemoryPlan.FLOAT * gradientBuffer.size();
        peakGradientBytes = Math.max(peakGradientBytes, gradientBytes);
        return gradientBuffer;
    }

    private void release(NDArray gradientBuffer) {
        gradientBytes -= MemoryPlan.FLOAT * gradientBuffer.size();
        gradientBuffer.close();
    }
}
