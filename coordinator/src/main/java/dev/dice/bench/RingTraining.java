package dev.dice.bench;

import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.collective.Collective;
import dev.dice.gpu.collective.DataParallel;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.gpu.collective.RingAllReduce;
import dev.dice.proto.PreferencePair;
import dev.dice.work.Policy;
import dev.dice.work.Replica;
import dev.dice.work.Training;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * DPO on a ring of {@code trainers} replicas in this JVM, as a single-process run's trainers train: each replica on
 * its own thread with the JVM's libtorch threads divided among them, its share of every batch, gradients averaged by
 * the ring all-reduce over gRPC on loopback.
 */
final class RingTraining {
    private RingTraining() {}

    /** Trains copies of {@code start} (left as it is) on {@code data}; returns when every rank has finished. */
    static void dpo(Policy start, List<PreferencePair> data, Training.Settings settings, int trainers) {
        int threads = Math.max(1, IntraOpThreads.jvmDefault() / trainers);
        List<String> members = FreePorts.loopbackAddresses(trainers);
        ExecutorService pool = Executors.newFixedThreadPool(trainers);
        try {
            List<Future<?>> ranks = new ArrayList<>();
            for (int r = 0; r < trainers; r++) {
                int rank = r;
                Policy copy = new Policy(start.model().copy(), start.tokenizer(), 0);
                ranks.add(pool.submit(() -> {
                    IntraOpThreads.use(threads);
                    try (Replica<PreferencePair> replica = new Replica<>(copy, data, settings,
                            new Training.DpoLoss(settings.beta()));
                            RingAllReduce ring = new RingAllReduce(members, rank,
                                    RingAllReduce.Settings.of(Duration.ofSeconds(60)).withRingId("bench-round"))) {
                        replica.join(ring, 10, Collective.Precision.FP32, DataParallel.Traffic.NONE, false);
                        while (!replica.done()) {
                            replica.step();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : ranks) {
                f.get();
            }
        } catch (Exception e) {
            throw new IllegalStateException("bench round: a trainer failed: " + e.getMessage(), e);
        } finally {
            pool.shutdownNow();
        }
    }
}
