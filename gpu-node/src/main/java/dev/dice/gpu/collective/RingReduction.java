package dev.dice.gpu.collective;

import dev.dice.gpu.collective.Collective.Precision;
import dev.dice.proto.collective.Encoding;
import dev.dice.proto.collective.GradChunk;
import dev.dice.proto.collective.Phase;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * Steps [first, end) of an all-reduce's 2(R−1) steps of chunks: step t &lt; R−1 is reduce-scatter round t, the
 * rest all-gather. The segment sent at step t+1 is the one received at step t, so each received chunk is sent
 * on at once.
 */
final class RingReduction {
    private final ByteBuffer bytes;
    private final FloatBuffer floats;
    private final long op;
    private final int bucket;
    private final Precision precision;
    private final long n;
    private final RingSchedule schedule;
    private final int first;
    private final int end;
    /** FP16, all-gather: each finished chunk's exponent, sent on unchanged so every rank decodes the same values. */
    private final int[] gatherExponents;

    /** Arrays for one chunk, kept across calls (a step reduces every bucket, every step). */
    static final class Scratch {
        private float[] mine = new float[0];
        private float[] theirs = new float[0];
        private short[] halves = new short[0];

        private void ensure(int floats) {
            if (mine.length < floats) {
                mine = new float[floats];
                theirs = new float[floats];
                halves = new short[floats];
            }
        }
    }

    private final RingInbound inbound;
    private final RingOutbound outbound;
    private final RingAllReduce.Settings settings;
    private final int rank;
    private final int world;
    private final float[] mine;
    private final float[] theirs;
    private final short[] halves;
    private long bytesSent;

    RingReduction(RingInbound inbound, RingOutbound outbound, RingAllReduce.Settings settings, int rank, int world,
            Scratch scratch, ByteBuffer bytes, long op, int bucket, Precision precision, int first, int end) {
        this.inbound = inbound;
        this.outbound = outbound;
        this.settings = settings;
        this.rank = rank;
        this.world = world;
        this.first = first;
        this.end = end;
        this.bytes = bytes;
        this.floats = bytes.asFloatBuffer();
        this.op = op;
        this.bucket = bucket;
        this.precision = precision;
        this.n = floats.remaining();
        this.schedule = new RingSchedule(world, rank, n, settings.chunkBytes() / 4);
        scratch.ensure((int) Math.min(settings.chunkBytes() / 4, n / world + 1));
        this.mine = scratch.mine;
        this.theirs = scratch.theirs;
        this.halves = scratch.halves;
        this.gatherExponents = new int[schedule.chunks(0)]; // segment 0 is the longest
    }

    /** Returns the payload bytes this rank sent. */
    long run() {
        for (int k = 0; k < schedule.chunks(schedule.sentSegment(first)); k++) {
            send(first, schedule.sentSegment(first), k);
        }
        for (int t = first; t < end; t++) {
            int segment = schedule.receivedSegment(t);
            for (int k = 0; k < schedule.chunks(segment); k++) {
                receive(t, segment, k);
                if (t + 1 < end) {
                    send(t + 1, segment, k);
                }
            }
        }
        outbound.drain(settings.timeout(), during(end - 1));
        return bytesSent;
    }

    private void send(int t, int segment, int chunk) {
        int from = schedule.from(segment, chunk);
        int count = schedule.count(segment, chunk);
        ByteBuffer payload;
        GradChunk.Builder header = header(t, segment, chunk);
        if (precision == Precision.FP16) {
            floats.get(from, mine, 0, count);
            int exponent = t < world - 1 ? Fp16.exponentFor(mine, count) : gatherExponents[chunk];
            Fp16.encode(mine, halves, count, exponent);
            payload = ByteBuffer.allocate(count * 2).order(ByteOrder.LITTLE_ENDIAN);
            payload.asShortBuffer().put(halves, 0, count);
            header.setFp16Exponent(exponent);
        } else {
            payload = bytes.slice(from * 4, count * 4); // a view: RingAllReduce's class comment says why that is safe
        }
        bytesSent += payload.remaining();
        outbound.send(new RingWire.Chunk(header.build(), payload, null), during(t));
    }

    private void receive(int t, int segment, int chunk) {
        RingWire.Chunk frame = inbound.take(settings.timeout(), during(t));
        try (Payload data = frame.incoming()) {
            apply(t, segment, chunk, frame.header(), data);
        }
    }

    private void apply(int t, int segment, int chunk, GradChunk got, Payload data) {
        GradChunk expected = header(t, segment, chunk).build();
        if (got.getStep() != op || got.getBucket() != bucket || got.getPhase() != expected.getPhase()
                || got.getRound() != expected.getRound() || got.getSegment() != segment
                || got.getChunk() != chunk || got.getTotalFloats() != n || got.getEncoding() != encoding()) {
            throw new CollectiveException("rank " + rank + ": out of step with left neighbour: expected "
                    + RingWire.describe(expected) + ", got " + RingWire.describe(got));
        }
        int from = schedule.from(segment, chunk);
        int count = schedule.count(segment, chunk);
        int width = precision == Precision.FP16 ? 2 : 4;
        if (data.size() != count * width) {
            throw new CollectiveException("rank " + rank + ": chunk " + RingWire.describe(expected) + " carries "
                    + data.size() + " bytes, expected " + count * width);
        }
        boolean reducing = t < world - 1;
        if (!reducing && precision == Precision.FP32) {
            data.copyTo(bytes.slice(from * 4, count * 4)); // all-gather: the finished values
            return;
        }
        if (precision == Precision.FP16) {
            data.readShorts(halves);
            Fp16.decode(halves, theirs, count, got.getFp16Exponent());
            if (!reducing) {
                gatherExponents[chunk] = got.getFp16Exponent();
            }
        } else {
            data.readFloats(theirs);
        }
        if (reducing) {
            floats.get(from, mine, 0, count);
            schedule.reduce(t, mine, theirs, count);
            if (t == world - 2 && precision == Precision.FP16) {
                // this rank owns the finished mean: hold exactly what the others will receive
                gatherExponents[chunk] = Fp16.exponentFor(mine, count);
                Fp16.round(mine, count, gatherExponents[chunk]);
            }
            floats.put(from, mine, 0, count);
        } else {
            floats.put(from, theirs, 0, count);
        }
    }

    private Encoding encoding() {
        return precision == Precision.FP16 ? Encoding.FP16 : Encoding.FP32;
    }

    private GradChunk.Builder header(int t, int segment, int chunk) {
        boolean reducing = t < world - 1;
        return GradChunk.newBuilder().setStep(op).setBucket(bucket)
                .setPhase(reducing ? Phase.REDUCE_SCATTER : Phase.ALL_GATHER)
                .setRound(reducing ? t : t - (world - 1)).setSegment(segment).setChunk(chunk).setTotalFloats(n)
                .setEncoding(encoding());
    }

    private String during(int t) {
        boolean reducing = t < world - 1;
        return "during all-reduce step " + op + " bucket " + bucket + " (" + (reducing ? Phase.REDUCE_SCATTER
                : Phase.ALL_GATHER) + " round " + (reducing ? t : t - (world - 1)) + ")";
    }
}
