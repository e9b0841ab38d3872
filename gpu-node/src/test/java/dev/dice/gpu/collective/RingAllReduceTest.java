package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RingAllReduceTest {
    static {
        Ranks.quietTransport();
    }

    /** Small chunks so that even 1001 floats cross many chunk boundaries. */
    private static final RingAllReduce.Settings SMALL = RingAllReduce.Settings.of(Duration.ofSeconds(10))
            .withChunkBytes(256);
    private static final int[] SIZES = {1, 7, 1001, 40_000};

    private static float[] input(int rank, int size) {
        Random rng = new Random(31L * rank + size);
        float[] x = new float[size];
        for (int i = 0; i < size; i++) {
            x[i] = (float) (rng.nextGaussian() * Math.pow(10, rng.nextInt(5) - 2));
        }
        return x;
    }

    @Test
    void meanOfEveryElementForTwoThreeAndFourRanks() {
        for (int world = 2; world <= 4; world++) {
            List<String> members = Ranks.loopback(world);
            int w = world;
            List<List<float[]>> results = Ranks.all(Ranks.run(world, rank -> {
                List<float[]> outs = new ArrayList<>();
                try (RingAllReduce ring = new RingAllReduce(members, rank, SMALL)) {
                    for (int size : SIZES) { // several reductions on one ring, in sequence
                        float[] x = input(rank, size);
                        ring.allReduceMean(FloatBuffer.wrap(x));
                        outs.add(x);
                    }
                }
                return outs;
            }), 30);
            for (int k = 0; k < SIZES.length; k++) {
                int size = SIZES[k];
                float[][] inputs = new float[w][];
                for (int r = 0; r < w; r++) {
                    inputs[r] = input(r, size);
                }
                for (int i = 0; i < size; i++) {
                    double sum = 0;
                    double scale = 0;
                    for (int r = 0; r < w; r++) {
                        sum += inputs[r][i];
                        scale += Math.abs(inputs[r][i]);
                    }
                    assertEquals(sum / w, results.get(0).get(k)[i], 1e-6 * scale + 1e-30,
                            "R=" + w + " size " + size + " element " + i);
                }
                for (int r = 1; r < w; r++) {
                    assertArrayEquals(results.get(0).get(k), results.get(r).get(k),
                            "R=" + w + " size " + size + ": rank " + r + " differs from rank 0 (must be bit-identical)");
                }
            }
        }
    }

    /**
     * fp16 on the wire: the mean to fp16 precision, bit-identical on every rank — also for values far below fp16's
     * smallest normal (6e-5), as DPO gradients are: each chunk travels scaled by its own power of two.
     */
    @Test
    void fp16OnTheWireGivesTheMeanToFp16PrecisionIdenticallyOnEveryRank() {
        for (float magnitude : new float[] {1f, 1e-7f}) {
            for (int world = 2; world <= 4; world++) {
                List<String> members = Ranks.loopback(world);
                int w = world;
                int size = 1001;
                List<float[]> results = Ranks.all(Ranks.run(world, rank -> {
                    try (RingAllReduce ring = new RingAllReduce(members, rank, SMALL.withRingId("fp16"))) {
                        float[] x = scaled(input(rank, size), magnitude);
                        ByteBuffer bytes = ByteBuffer.allocateDirect(size * 4).order(ByteOrder.nativeOrder());
                        bytes.asFloatBuffer().put(x);
                        ring.allReduceMean(bytes, 0, Collective.Precision.FP16);
                        bytes.asFloatBuffer().get(x);
                        return x;
                    }
                }), 30);
                for (int i = 0; i < size; i++) {
                    double sum = 0;
                    double scale = 0;
                    for (int r = 0; r < w; r++) {
                        float v = scaled(input(r, size), magnitude)[i];
                        sum += v;
                        scale += Math.abs(v);
                    }
                    // each of R-1 hops and the final mean round to fp16 (relative 2^-11), plus the subnormal grid of
                    // a chunk scaled so that its largest value is near 2^15 (2^-24 covers chunks whose largest value is < 2^14)
                    assertEquals(sum / w, results.get(0)[i], w * 0x1p-11 * scale + 0x1p-24 * magnitude,
                            "R=" + w + " magnitude " + magnitude + " element " + i);
                }
                for (int r = 1; r < w; r++) {
                    assertArrayEquals(results.get(0), results.get(r), "R=" + w + ": rank " + r + " differs from rank 0");
                }
            }
        }
    }

    /**
     * The two halves run apart: a reduce-scatter leaves each rank the mean of its own segment (the segments tile the
     * buffer), and an all-gather of those gives every rank what one all-reduce gives, bit for bit.
     */
    @Test
    void reduceScatterThenAllGatherIsTheAllReduce() {
        for (int world = 2; world <= 3; world++) {
            List<String> members = Ranks.loopback(world);
            int w = world;
            for (int size : new int[] {7, 1001}) {
                List<Object[]> results = Ranks.all(Ranks.run(world, rank -> {
                    try (Collective ring = new RingAllReduce(members, rank, SMALL.withRingId("halves"))) {
                        ByteBuffer whole = direct(input(rank, size));
                        ring.allReduceMean(whole, 0);
                        ByteBuffer halves = direct(input(rank, size));
                        Collective.Segment mine = ring.reduceScatterMean(halves, 1);
                        float[] segment = new float[mine.count()];
                        halves.asFloatBuffer().get(mine.from(), segment);
                        ring.allGather(halves, 2);
                        return new Object[] {floats(whole), mine, segment, floats(halves)};
                    }
                }), 30);
                int covered = 0;
                for (int r = 0; r < w; r++) {
                    float[] allReduced = (float[]) results.get(r)[0];
                    Collective.Segment mine = (Collective.Segment) results.get(r)[1];
                    covered += mine.count();
                    assertArrayEquals(java.util.Arrays.copyOfRange(allReduced, mine.from(), mine.from() + mine.count()),
                            (float[]) results.get(r)[2], "R=" + w + " size " + size + ": rank " + r + "'s segment");
                    assertArrayEquals(allReduced, (float[]) results.get(r)[3], "R=" + w + " size " + size + ": rank " + r
                            + " after the all-gather");
                }
                assertEquals(size, covered, "the segments tile the buffer");
            }
        }
    }

    /** Every rank ends with the root's bytes, whichever rank is the root, over many chunks and none. */
    @Test
    void broadcastGivesEveryRankTheRootsBuffer() {
        for (int world = 2; world <= 3; world++) {
            List<String> members = Ranks.loopback(world);
            int w = world;
            List<List<float[]>> results = Ranks.all(Ranks.run(world, rank -> {
                List<float[]> outs = new ArrayList<>();
                try (Collective ring = new RingAllReduce(members, rank, SMALL.withRingId("broadcast"))) {
                    for (int root = 0; root < w; root++) {
                        for (int size : new int[] {0, 1001}) {
                            ByteBuffer bytes = direct(input(rank, size));
                            ring.broadcast(bytes, root, root);
                            outs.add(floats(bytes));
                        }
                    }
                }
                return outs;
            }), 30);
            for (int r = 0; r < w; r++) {
                int k = 0;
                for (int root = 0; root < w; root++) {
                    for (int size : new int[] {0, 1001}) {
                        assertArrayEquals(input(root, size), results.get(r).get(k++), "R=" + w + " root " + root
                                + " size " + size + " at rank " + r);
                    }
                }
            }
        }
    }

    private static ByteBuffer direct(float[] x) {
        ByteBuffer bytes = ByteBuffer.allocateDirect(x.length * 4).order(ByteOrder.nativeOrder());
        bytes.asFloatBuffer().put(x);
        return bytes;
    }

    private static float[] floats(ByteBuffer bytes) {
        float[] x = new float[bytes.remaining() / 4];
        bytes.asFloatBuffer().get(x);
        return x;
    }

    private static float[] scaled(float[] x, float factor) {
        for (int i = 0; i < x.length; i++) {
            x[i] *= factor;
        }
        return x;
    }

    @Test
    void oneRankIsANoOp() {
        float[] x = input(0, 7);
        float[] copy = x.clone();
        try (RingAllReduce ring = new RingAllReduce(List.of("127.0.0.1:1"), 0, SMALL)) {
            ring.allReduceMean(FloatBuffer.wrap(x));
        }
        assertArrayEquals(copy, x);
    }

    @Test
    void mismatchedSizesFailWithAClearError() {
        List<String> members = Ranks.loopback(2);
        List<CompletableFuture<Object>> ranks = Ranks.run(2, rank -> {
            try (RingAllReduce ring = new RingAllReduce(members, rank, SMALL)) {
                ring.allReduceMean(FloatBuffer.wrap(input(rank, rank == 0 ? 100 : 101)));
                return null;
            }
        });
        CollectiveException e = failure(ranks.get(0), 20);
        assertTrue(e.getMessage().contains("out of step") || e.getMessage().contains("rank 1"), e.getMessage());
    }

    @Test
    void aStalledRankFailsTheOthersWithinTheTimeout() {
        List<String> members = Ranks.loopback(3);
        // 1.5 s: the first, JIT-cold step can take about a second on a loaded machine
        RingAllReduce.Settings settings = RingAllReduce.Settings.of(Duration.ofMillis(1500)).withRingId("stall");
        long[] failedAfterMs = new long[3];
        List<CompletableFuture<Object>> ranks = Ranks.run(3, rank -> {
            try (RingAllReduce ring = new RingAllReduce(members, rank, settings)) {
                ring.allReduceMean(FloatBuffer.wrap(input(rank, 1001))); // a healthy step first
                if (rank == 2) {
                    sleep(7000); // stalls: never joins the second step in time
                }
                long start = System.nanoTime();
                try {
                    ring.allReduceMean(FloatBuffer.wrap(input(rank, 1001)));
                } finally {
                    failedAfterMs[rank] = (System.nanoTime() - start) / 1_000_000;
                }
                return null;
            }
        });
        for (int r = 0; r < 2; r++) {
            CollectiveException e = failure(ranks.get(r), 10);
            // Failing before the stalled rank shows up (7 s) proves the 1.5 s timeout fired, with room for a busy CI.
            assertTrue(failedAfterMs[r] < 5500, "rank " + r + " failed after " + failedAfterMs[r] + " ms");
            assertTrue(e.getMessage().startsWith("rank " + r + ":"), e.getMessage());
        }
        // the stalled rank, when it finally arrives, finds the ring already failed instead of hanging
        CollectiveException late = failure(ranks.get(2), 10);
        assertTrue(late.getMessage().contains("failed earlier"), late.getMessage());
    }

    @Test
    void aRankThatDiesMidStepFailsTheOthersFast() {
        List<String> members = Ranks.loopback(3);
        // a long timeout: the failure must arrive through the broken links, not by waiting it out
        RingAllReduce.Settings settings = RingAllReduce.Settings.of(Duration.ofSeconds(20)).withRingId("crash");
        RingAllReduce[] rings = new RingAllReduce[3];
        long[] failedAfterMs = new long[3];
        List<CompletableFuture<Object>> ranks = Ranks.run(3, rank -> {
            try (RingAllReduce ring = new RingAllReduce(members, rank, settings)) {
                rings[rank] = ring;
                ring.allReduceMean(FloatBuffer.wrap(input(rank, 1001)));
                if (rank == 2) {
                    sleep(300);
                    ring.crash(); // the others are inside step 1, waiting for this rank
                    return null;
                }
                long start = System.nanoTime();
                try {
                    ring.allReduceMean(FloatBuffer.wrap(input(rank, 1001)));
                } finally {
                    failedAfterMs[rank] = (System.nanoTime() - start) / 1_000_000;
                }
                return null;
            }
        });
        for (int r = 0; r < 2; r++) {
            CollectiveException e = failure(ranks.get(r), 10);
            // Well under the 20 s timeout: the failure came through the broken links.
            assertTrue(failedAfterMs[r] < 12000, "rank " + r + " failed after " + failedAfterMs[r] + " ms");
            assertTrue(e.getMessage().contains("rank"), e.getMessage());
        }
    }

    /** A rank that aborted before its left neighbour's link arrived refuses the link: that neighbour fails at once. */
    @Test
    void aRankThatAbortedBeforeItsNeighbourJoinedFailsItAtOnce() {
        List<String> members = Ranks.loopback(2);
        RingAllReduce.Settings settings = RingAllReduce.Settings.of(Duration.ofSeconds(30)).withRingId("early-abort");
        try (RingAllReduce aborted = new RingAllReduce(members, 1, settings)) {
            aborted.abort("it failed before its first collective");
            try (RingAllReduce ring = new RingAllReduce(members, 0, settings)) {
                long start = System.nanoTime();
                CollectiveException e = assertThrows(CollectiveException.class,
                        () -> ring.allReduceMean(FloatBuffer.wrap(input(0, 1001))));
                long ms = (System.nanoTime() - start) / 1_000_000;
                assertTrue(ms < 10_000, "failed after " + ms + " ms, not at once: " + e.getMessage());
                assertTrue(e.getMessage().contains("aborted the ring"), e.getMessage());
            }
        }
    }

    private static CollectiveException failure(CompletableFuture<?> rank, int seconds) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> rank.get(seconds, TimeUnit.SECONDS));
        return assertInstanceOf(CollectiveException.class, e.getCause());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
