package dev.dice.gpu;

import ai.djl.engine.Engine;
import ai.djl.pytorch.jni.JniUtils;

/**
 * libtorch's intra-op threads for the calling thread. With libtorch's OpenMP backend the count is kept per calling
 * thread (OpenMP's nthreads ICV), so model workers that share a JVM may use different counts: two single-threaded
 * workers keep two cores busy side by side while a trainer alone uses both. Every kind of model work sets its count
 * before it runs, because actors move between the threads of their dispatcher and a thread keeps the count the last
 * work on it set.
 */
public final class IntraOpThreads {
    private IntraOpThreads() {}

    /** The JVM's count: {@code ai.djl.pytorch.num_threads} (the launcher sets it), else one per core. */
    public static int jvmDefault() {
        return Math.max(1, Integer.getInteger("ai.djl.pytorch.num_threads", Runtime.getRuntime().availableProcessors()));
    }

    /** Sets the calling thread's count; 0 or less: the JVM's. */
    public static void use(int threads) {
        int wanted = threads > 0 ? threads : jvmDefault();
        Engine.getEngine("PyTorch"); // the native library is loaded before its first call
        if (JniUtils.getNumThreads() != wanted) {
            JniUtils.setNumThreads(wanted);
        }
    }

    /** The calling thread's count. */
    public static int current() {
        Engine.getEngine("PyTorch");
        return JniUtils.getNumThreads();
    }
}
