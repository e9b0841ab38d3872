package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.dice.proto.collective.GradChunk;
import dev.dice.proto.collective.RingFrame;
import io.grpc.internal.CompositeReadableBuffer;
import io.grpc.internal.ForwardingReadableBuffer;
import io.grpc.internal.ReadableBuffer;
import io.grpc.internal.ReadableBuffers;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class WireCodecTest {
    /** A transport buffer that records whether it was handed back, and may refuse to lend its memory. */
    private static final class Tracked extends ForwardingReadableBuffer {
        private final boolean lends;
        boolean closed;

        Tracked(byte[] bytes, boolean lends) {
            super(ReadableBuffers.wrap(ByteBuffer.wrap(bytes)));
            this.lends = lends;
        }

        @Override
        public boolean byteBufferSupported() {
            return lends && super.byteBufferSupported();
        }

        @Override
        public void close() {
            closed = true;
            super.close();
        }
    }

    private static final float[] VALUES = {1.5f, -2.25f, Float.MIN_VALUE, 3e38f, 0f, -0f, 7f, 42.125f, -1e-20f};

    private static byte[] wireBytes() throws Exception {
        ByteBuffer floats = ByteBuffer.allocateDirect(VALUES.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        floats.asFloatBuffer().put(VALUES);
        GradChunk header = GradChunk.newBuilder().setStep(3).setBucket(-1).setChunk(2).setTotalFloats(99).build();
        try (InputStream in = RingWire.PASS.getRequestMarshaller().stream(new RingWire.Chunk(header, floats, null))) {
            return in.readAllBytes();
        }
    }

    /** The message cut at odd offsets, so that floats straddle transport buffers, as network frames do. */
    private static List<Tracked> pieces(byte[] wire, boolean lend) {
        List<Tracked> out = new ArrayList<>();
        int[] cuts = {0, 7, 20, 23, 30, 41, wire.length};
        for (int i = 0; i + 1 < cuts.length; i++) {
            out.add(new Tracked(Arrays.copyOfRange(wire, cuts[i], cuts[i + 1]), lend));
        }
        return out;
    }

    private static RingWire.Chunk parse(List<Tracked> pieces) throws Exception {
        CompositeReadableBuffer composite = new CompositeReadableBuffer();
        pieces.forEach(composite::addBuffer);
        try (InputStream stream = ReadableBuffers.openStream(composite, true)) { // gRPC closes it after parsing
            return (RingWire.Chunk) RingWire.PASS.parseRequest(stream);
        }
    }

    @Test
    void theBytesAreTheGeneratedMessage() throws Exception {
        RingFrame generated = RingFrame.parseFrom(wireBytes());
        assertEquals(99, generated.getChunk().getTotalFloats());
        assertEquals(-1, generated.getChunk().getBucket());
        assertEquals(VALUES.length * 4, generated.getChunk().getData().size());
    }

    @Test
    void lentPayloadsStayValidUntilClosedThenGoBack() throws Exception {
        List<Tracked> pieces = pieces(wireBytes(), true);
        RingWire.Chunk chunk = parse(pieces);
        assertEquals(GradChunk.newBuilder().setStep(3).setBucket(-1).setChunk(2).setTotalFloats(99).build(),
                chunk.header());
        assertTrue(pieces.stream().noneMatch(p -> p.closed), "the payload still reads from the transport's buffers");
        float[] got = new float[VALUES.length];
        chunk.incoming().readFloats(got);
        assertArrayEquals(VALUES, got);
        chunk.incoming().close();
        assertTrue(pieces.stream().allMatch(p -> p.closed), "closing the payload hands every buffer back");
    }

    @Test
    void aTransportThatCannotLendIsCopiedAndReleasedAtOnce() throws Exception {
        List<Tracked> pieces = pieces(wireBytes(), false);
        RingWire.Chunk chunk = parse(pieces);
        assertTrue(pieces.stream().allMatch(p -> p.closed), "nothing lent: every buffer back after parsing");
        float[] got = new float[VALUES.length];
        chunk.incoming().readFloats(got);
        assertArrayEquals(VALUES, got);
        ByteBuffer copy = ByteBuffer.allocate(VALUES.length * 4);
        chunk.incoming().copyTo(copy);
        assertFalse(copy.hasRemaining());
        chunk.incoming().close();
    }
}
