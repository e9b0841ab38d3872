package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The ring's schedule: segments tile the buffer, and what a rank receives is what its left neighbour sent. */
class RingScheduleTest {

    @Test
    void segmentsTileAnyBufferAndChunksTileSegments() {
        for (int world : new int[] {2, 3, 5}) {
            for (long n : new long[] {0, 1, world - 1, 7, 1001}) {
                RingSchedule s = new RingSchedule(world, 0, n, 4);
                long covered = 0;
                for (int segment = 0; segment < world; segment++) {
                    assertEquals(covered, s.segmentStart(segment), "world " + world + ", n " + n);
                    int inChunks = 0;
                    for (int chunk = 0; chunk < s.chunks(segment); chunk++) {
                        assertEquals(s.segmentStart(segment) + inChunks, s.from(segment, chunk));
                        inChunks += s.count(segment, chunk);
                    }
                    assertEquals(s.segmentLength(segment), inChunks);
                    covered += s.segmentLength(segment);
                }
                assertEquals(n, covered);
            }
        }
    }

    @Test
    void eachRankReceivesWhatItsLeftNeighbourSentAndSendsItOn() {
        int world = 4;
        for (int rank = 0; rank < world; rank++) {
            RingSchedule me = new RingSchedule(world, rank, 100, 8);
            RingSchedule left = new RingSchedule(world, Math.floorMod(rank - 1, world), 100, 8);
            for (int t = 0; t < 2 * (world - 1); t++) {
                assertEquals(left.sentSegment(t), me.receivedSegment(t), "rank " + rank + ", step " + t);
                if (t + 1 < 2 * (world - 1)) {
                    assertEquals(me.receivedSegment(t), me.sentSegment(t + 1), "rank " + rank + ", step " + t);
                }
            }
        }
    }
}
