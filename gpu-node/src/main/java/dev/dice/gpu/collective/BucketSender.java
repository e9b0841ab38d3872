package dev.dice.gpu.collective;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * This rank's communication thread for one step: runs the collective of every gradient bucket handed to it, one at a
 * time, in the order handed over, while the thread that hands them over goes on with backward. Every rank hands its
 * buckets over in the same order, so the ranks issue the same collectives in the same order, and the group is used by
 * one thread at a time: the next operation on the group from another thread comes after {@link #finish}.
 */
final class BucketSender implements AutoCloseable {

    /** The collective one bucket takes (an all-reduce; a reduce-scatter for sharded gradients). */
    @FunctionalInterface
    interface Operation {
        void run(ByteBuffer bucket, int index);
    }

    private final Collective group;
    private final Operation operation;
    private final ExecutorService thread;
    private final List<Future<?>> sent = new ArrayList<>();
    private boolean finished;

    BucketSender(Collective group, Operation operation) {
        this.group = group;
        this.operation = operation;
        this.thread = Executors.newSingleThreadExecutor(task -> {
            Thread t = new Thread(task, "gradients-rank-" + group.rank());
            t.setDaemon(true);
            return t;
        });
    }

    /** Queues the collective of bucket {@code index}, whose memory stays the caller's until {@link #finish}. */
    void send(ByteBuffer bucket, int index) {
        sent.add(thread.submit(() -> operation.run(bucket, index)));
    }

    /** Waits until every bucket handed over is done; throws the first failure (a {@link CollectiveException}). */
    void finish() {
        for (Future<?> f : sent) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                if (e.getCause() instanceof Error err) {
                    throw err;
                }
                throw new CollectiveException("bucket collective failed: " + e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new CollectiveException("interrupted while waiting for the gradient buckets");
            }
        }
        finished = true;
    }

    /**
     * Stops the thread. A step that did not {@link #finish} (its backward pass failed here) aborts the group first, so
     * that the bucket in flight and the other ranks fail at once instead of at their timeout, and nothing touches the
     * buckets' memory once this returns.
     */
    @Override
    public void close() {
        if (!finished && !sent.isEmpty()) {
            group.abort("its backward pass failed");
        }
        thread.shutdownNow();
        try {
            if (!thread.awaitTermination(5, TimeUnit.MINUTES)) {
                throw new IllegalStateException("the gradient thread of rank " + group.rank() + " did not stop");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
