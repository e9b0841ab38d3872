package dev.dice.gpu.collective;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.dice.proto.collective.GradChunk;
import dev.dice.proto.collective.RingAllReduceGrpc;
import dev.dice.proto.collective.RingClosed;
import dev.dice.proto.collective.RingFrame;
import dev.dice.proto.collective.RingHello;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;

/**
 * {@code RingAllReduce.Pass} with {@link WireCodec}'s framing: the same {@link RingFrame} bytes as the generated
 * stub, but a chunk's payload goes from the sender's buffer to the transport, and from the transport to the
 * reduction, without protobuf's intermediate copies.
 */
final class RingWire {
    private RingWire() {}

    /** What travels on a ring link. */
    sealed interface Frame permits Hello, Chunk {}

    record Hello(RingHello hello) implements Frame {}

    /**
     * A gradient chunk: {@code header} is the {@link GradChunk} without its data. Sent, the payload is a buffer
     * the sender keeps unchanged until gRPC serialised it; received, it must be closed after use.
     */
    record Chunk(GradChunk header, ByteBuffer outgoing, Payload incoming) implements Frame {}

    static final MethodDescriptor<Frame, RingClosed> PASS = RingAllReduceGrpc.getPassMethod()
            .toBuilder(new Marshaller(), ProtoUtils.marshaller(RingClosed.getDefaultInstance())).build();

    private static final class Marshaller implements MethodDescriptor.Marshaller<Frame> {
        @Override
        public InputStream stream(Frame frame) {
            if (frame instanceof Hello h) {
                return WireCodec.outgoing(RingFrame.newBuilder().setHello(h.hello()).build().toByteArray(), null);
            }
            Chunk c = (Chunk) frame;
            try {
                byte[] prefix = WireCodec.prefix(RingFrame.CHUNK_FIELD_NUMBER, c.header().toByteArray(),
                        GradChunk.DATA_FIELD_NUMBER, c.outgoing().remaining());
                return WireCodec.outgoing(prefix, c.outgoing());
            } catch (IOException e) {
                throw new IllegalStateException("cannot frame a gradient chunk", e);
            }
        }

        @Override
        public Frame parse(InputStream stream) {
            try {
                WireCodec.Split split = WireCodec.split(stream, GradChunk.DATA_FIELD_NUMBER);
                if (split.field() == RingFrame.HELLO_FIELD_NUMBER) {
                    return new Hello(RingHello.parseFrom(split.rest()));
                }
                if (split.field() != RingFrame.CHUNK_FIELD_NUMBER) {
                    throw new IOException("unknown ring frame field " + split.field());
                }
                Payload data = split.payload() == null ? Payload.of(new byte[0]) : split.payload();
                try {
                    return new Chunk(GradChunk.parseFrom(split.rest()), null, data);
                } catch (InvalidProtocolBufferException e) {
                    data.close();
                    throw e;
                }
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("malformed ring frame: " + e.getMessage()).withCause(e)
                        .asRuntimeException();
            }
        }
    }

    /** A chunk's header, for error messages. */
    static String describe(GradChunk c) {
        return "step " + c.getStep() + " bucket " + c.getBucket() + " " + c.getPhase() + " round " + c.getRound()
                + " segment " + c.getSegment() + " chunk " + c.getChunk() + " of " + c.getTotalFloats() + " floats ("
                + c.getEncoding() + ")";
    }
}
