package dev.dice.gpu;

import dev.dice.gpu.collective.DataParallel;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.gpu.collective.RingAllReduce;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntConsumer;

/**
 * Replicas of one model in this JVM, each on its own thread with one libtorch intra-op thread, joined by a ring
 * all-reduce over gRPC on loopback: how a single-process run trains on {@code dice.cluster.trainers} trainers. A step
 * runs every rank's micro-step ({@code work}, given the rank) at once, then the all-reduce and the identical optimizer
 * step on every rank; it ends when the slowest rank's does.
 */
public final class ReplicaSteps implements AutoCloseable {
    private final List<Trainer> trainers = new ArrayList<>();
    private final List<DataParallel> ranks = new ArrayList<>();
    private final List<RingAllReduce> rings = new ArrayList<>();
    private final ExecutorService threads;

    /** {@code replicas} copies of {@code model}'s weights (the model itself is rank 0's). */
    public ReplicaSteps(Llama model, Trainer.Settings settings, int replicas) {
        threads = Executors.newFixedThreadPool(replicas, r -> {
            Thread t = new Thread(r, "replica");
            t.setDaemon(true);
            return t;
        });
        List<String> members = FreePorts.loopbackAddresses(replicas);
        List<Callable<RingAllReduce>> joins = new ArrayList<>();
        for (int r = 0; r < replicas; r++) {
            int rank = r;
            trainers.add(new Trainer(r == 0 ? model : model.copy(), settings));
            joins.add(() -> new RingAllReduce(members, rank, RingAllReduce.Settings.of(Duration.ofSeconds(60))
                    .withRingId("replica-steps")));
        }
        rings.addAll(onEveryRank(joins));
        for (int r = 0; r < replicas; r++) {
            ranks.add(new DataParallel(trainers.get(r), rings.get(r), 0));
        }
    }

    public Trainer trainer(int rank) {
        return trainers.get(rank);
    }

    /** One data-parallel step: {@code work.accept(rank)} on every rank at once, then the all-reduce and step. */
    public void step(IntConsumer work) {
        List<Callable<Void>> steps = new ArrayList<>();
        for (int r = 0; r < ranks.size(); r++) {
            int rank = r;
            steps.add(() -> {
                IntraOpThreads.use(1);
                work.accept(rank);
                ranks.get(rank).step();
                return null;
            });
        }
        onEveryRank(steps);
    }

    private <T> List<T> onEveryRank(List<Callable<T>> work) {
        List<Future<T>> running = new ArrayList<>();
        work.forEach(w -> running.add(threads.submit(w)));
        List<T> out = new ArrayList<>();
        try {
            for (Future<T> f : running) {
                out.add(f.get());
            }
        } catch (ExecutionException e) {
            rings.forEach(ring -> ring.abort("a replica failed: " + e.getCause()));
            throw new IllegalStateException("a replica failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
        return out;
    }

    @Override
    public void close() {
        rings.forEach(RingAllReduce::close);
        for (int r = 1; r < trainers.size(); r++) {
            trainers.get(r).model().close();
        }
        threads.shutdownNow();
    }
}
