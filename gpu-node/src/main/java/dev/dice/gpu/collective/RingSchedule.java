package dev.dice.gpu.collective;

/**
 * Which part of a buffer of {@code n} floats moves when in a ring all-reduce over {@code world} ranks, seen from
 * {@code rank}: the buffer is cut into one segment per rank (lengths differ by at most one float, so any n works,
 * even fewer floats than ranks), each segment into chunks of {@code chunkFloats}. Step t &lt; R−1 is reduce-scatter
 * round t, the rest all-gather; the segment sent at step t+1 is the one received at step t.
 */
public record RingSchedule(int world, int rank, long n, int chunkFloats) {

    public int segmentStart(int s) {
        long base = n / world;
        long extra = n % world;
        return (int) (s * base + Math.min(s, extra));
    }

    public int segmentLength(int s) {
        return segmentStart(s + 1) - segmentStart(s);
    }

    public int chunks(int segment) {
        return (segmentLength(segment) + chunkFloats - 1) / chunkFloats;
    }

    /** The segment this rank sends at step t: its own partial sums, then the finished segments. */
    public int sentSegment(int t) {
        return t < world - 1 ? Math.floorMod(rank - t, world) : Math.floorMod(rank + 1 - (t - world + 1), world);
    }

    /** The segment arriving at step t: the left neighbour's sent segment, the one this rank sends next. */
    public int receivedSegment(int t) {
        return t < world - 1 ? Math.floorMod(rank - t - 1, world) : Math.floorMod(rank - (t - world + 1), world);
    }

    /** The first float of a chunk. */
    public int from(int segment, int chunk) {
        return segmentStart(segment) + chunk * chunkFloats;
    }

    /** The floats in a chunk: {@code chunkFloats}, fewer in a segment's last. */
    public int count(int segment, int chunk) {
        return Math.min(chunkFloats, segmentStart(segment) + segmentLength(segment) - from(segment, chunk));
    }

    /** Steps of one all-reduce: R−1 of reduce-scatter, R−1 of all-gather. */
    public int steps() {
        return 2 * (world - 1);
    }

    /**
     * Reduce-scatter at step t: adds the neighbour's partial sums to this rank's; at the last addition (t = R−2) this
     * rank holds the finished sum of the segment, and turns it into the mean.
     */
    public void reduce(int t, float[] mine, float[] theirs, int count) {
        // plain loops over arrays, which the JIT vectorises: ~10x faster than indexed get/put on buffer views
        for (int i = 0; i < count; i++) {
            mine[i] += theirs[i];
        }
        if (t == world - 2) {
            for (int i = 0; i < count; i++) {
                mine[i] /= world;
            }
        }
    }
}
