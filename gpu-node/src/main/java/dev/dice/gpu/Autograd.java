package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Grad mode and backward passes, per thread. DJL's GradientCollector allows one collector per JVM (a static
 * flag), which would serialise trainers that share a process, so the runtime calls libtorch's thread-local
 * grad mode and backward directly. Every entry point of the runtime states the mode it needs: worker
 * threads start with libtorch's default (on), only the engine's first thread starts with it off.
 */
public final class Autograd {
    private Autograd() {}

    /** Runs {@code forward} with autograd recording, restoring the previous mode afterwards. */
    public static <T> T recording(Supplier<T> forward) {
        boolean before = JniUtils.isGradMode();
        JniUtils.setGradMode(true);
        try {
            return forward.get();
        } finally {
            JniUtils.setGradMode(before);
        }
    }

    /** Turns recording off for this thread: inference and in-place parameter updates. */
    public static void off() {
        JniUtils.setGradMode(false);
    }

    /** Accumulates d(scalar)/d(parameter) into every trainable parameter's {@code .grad}. */
    public static void backward(NDArray scalar) {
        try (NDArray seed = scalar.onesLike()) {
            JniUtils.backward((PtNDArray) scalar, (PtNDArray) seed, false, false);
        }
    }

    /** The accumulated gradient of a parameter (a handle on libtorch's {@code .grad}, same storage), or null. */
    public static NDArray gradient(NDArray parameter) {
        return JniUtils.getGradient((PtNDArray) parameter);
    }

    public static void zeroGradient(NDArray parameter) {
        JniUtils.zeroGrad((PtNDArray) parameter);
    }

    /** Copies of named arrays in {@code target}, made with recording off: no autograd history back to the originals. */
    public static Map<String, NDArray> plainCopies(Map<String, NDArray> arrays, NDManager target) {
        off();
        Map<String, NDArray> out = new LinkedHashMap<>();
        arrays.forEach((name, a) -> {
            NDArray c = a.duplicate();
            c.attach(target);
            out.put(name, c);
        });
        return out;
    }
}
