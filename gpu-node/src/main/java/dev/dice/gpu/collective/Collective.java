package dev.dice.gpu.collective;

import java.nio.ByteBuffer;

/**
 * The collectives data-parallel training needs, over fp32 values in native byte order, done in place by one rank of a
 * group of {@link #world()} ranks: every rank calls the same operations, with buffers of the same length, in the same
 * order. {@link RingAllReduce} implements them over gRPC (any host, CPU or GPU memory copied through the heap); a
 * CUDA-native backend (NCCL on device memory) would implement the same interface (docs/data-parallel.md, "A GPU
 * backend").
 *
 * <p>{@code bucket} tags an operation so that ranks running different operations at the same point fail instead of
 * mixing them up. A failure — a rank that died, stalled past the timeout or aborted — throws
 * {@link CollectiveException} on every rank and leaves the group failed: re-form it from the survivors.
 */
public interface Collective extends AutoCloseable {

    /** How values travel between ranks; the sums are fp32 either way. */
    enum Precision {
        /** Exact: the mean of fp32 values, rounded once per addition. */
        FP32,
        /**
         * Half the bytes: every hop rounds the partial sum to fp16, and the mean is rounded to fp16, each chunk
         * scaled by its own power of two so that small gradients are not flushed to zero.
         */
        FP16
    }

    /** The floats [{@code from}, {@code from + count}) of a buffer: the part of a reduce-scatter a rank owns. */
    record Segment(int from, int count) {}

    int rank();

    int world();

    /** Element-wise mean over the ranks; every rank ends with the same bits. */
    void allReduceMean(ByteBuffer data, int bucket, Precision precision);

    default void allReduceMean(ByteBuffer data, int bucket) {
        allReduceMean(data, bucket, Precision.FP32);
    }

    /**
     * The segment of a buffer of {@code floats} that {@code rank} owns after {@link #reduceScatterMean} (and contributes
     * to {@link #allGather}): the same on every rank, whatever the buffer holds.
     */
    Segment part(int floats, int rank);

    /**
     * The first half of an all-reduce: afterwards this rank's {@link Segment} of {@code data} holds the element-wise
     * mean over the ranks (the rest of the buffer holds partial sums). The segments of the ranks tile the buffer.
     */
    Segment reduceScatterMean(ByteBuffer data, int bucket);

    /**
     * The second half: every rank contributes the segment {@link #reduceScatterMean} gave it (the same segments for a
     * buffer of the same length) and ends with every rank's segment.
     */
    void allGather(ByteBuffer data, int bucket);

    /** Every rank ends with {@code root}'s {@code data}. */
    void broadcast(ByteBuffer data, int root, int bucket);

    /** Payload bytes this rank has sent so far. */
    long bytesSent();

    /** Fails the group from this rank: the others' operations fail at once rather than at their timeout. */
    void abort(String why);

    /** Leaves the group; a group of one has nothing to close. */
    @Override
    void close();
}
