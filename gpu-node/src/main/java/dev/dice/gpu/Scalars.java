package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Tensor-by-number products and quotients that are safe inside an autograd graph.
 *
 * <p>DJL's {@code x.mul(Number)} and {@code x.div(Number)} wrap the number in a tensor over a Java direct buffer
 * (libtorch's {@code from_blob}: libtorch does not own that memory) and close the tensor right after the op. Mul and
 * div save that operand for the backward pass, so the graph keeps pointing at the buffer; once the JVM collects it,
 * the memory is freed and reused, and backward multiplies by whatever is there. Gradients then come out silently
 * wrong (scaled by garbage, zero or NaN) whenever a garbage collection falls between forward and backward: rare in a
 * quiet single-threaded process, frequent beside gRPC, actors or a second trainer. Here the number is a 0-d tensor
 * in libtorch-owned memory, which the graph keeps alive by reference count. (Add and sub do not save their operand,
 * so their Number forms are safe.)
 */
public final class Scalars {
    private Scalars() {}

    /** {@code x · factor}, with {@code factor} rounded to x's type as DJL's own Number form does. */
    public static NDArray mul(NDArray x, double factor) {
        try (NDArray s = scalar(x, factor)) {
            return x.mul(s);
        }
    }

    /** {@code x / divisor}. */
    public static NDArray div(NDArray x, double divisor) {
        try (NDArray s = scalar(x, divisor)) {
            return x.div(s);
        }
    }

    private static NDArray scalar(NDArray like, double value) {
        return like.getManager().full(new Shape(), (float) value, like.getDataType());
    }
}
