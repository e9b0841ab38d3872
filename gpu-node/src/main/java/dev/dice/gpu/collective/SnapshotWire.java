package dev.dice.gpu.collective;

import dev.dice.proto.collective.FetchRequest;
import dev.dice.proto.collective.SnapshotChunk;
import dev.dice.proto.collective.SnapshotFrame;
import dev.dice.proto.collective.SnapshotHeader;
import dev.dice.proto.collective.WeightSyncGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;

/**
 * {@code WeightSync.Fetch} with {@link WireCodec}'s framing: the same {@link SnapshotFrame} bytes as the generated
 * stub, but a chunk's data goes from the snapshot into the transport, and from the transport into the
 * receiver's snapshot, without protobuf's intermediate copies.
 */
final class SnapshotWire {
    private SnapshotWire() {}

    sealed interface Frame permits Header, Chunk {}

    record Header(SnapshotHeader header) implements Frame {}

    /** {@code fields} is the {@link SnapshotChunk} without its data; see {@link RingWire.Chunk} for the payloads. */
    record Chunk(SnapshotChunk fields, ByteBuffer outgoing, Payload incoming) implements Frame {}

    static final MethodDescriptor<FetchRequest, Frame> FETCH = WeightSyncGrpc.getFetchMethod()
            .toBuilder(ProtoUtils.marshaller(FetchRequest.getDefaultInstance()), new Marshaller()).build();

    private static final class Marshaller implements MethodDescriptor.Marshaller<Frame> {
        @Override
        public InputStream stream(Frame frame) {
            if (frame instanceof Header h) {
                return WireCodec.outgoing(SnapshotFrame.newBuilder().setHeader(h.header()).build().toByteArray(), null);
            }
            Chunk c = (Chunk) frame;
            try {
                byte[] prefix = WireCodec.prefix(SnapshotFrame.CHUNK_FIELD_NUMBER, c.fields().toByteArray(),
                        SnapshotChunk.DATA_FIELD_NUMBER, c.outgoing().remaining());
                return WireCodec.outgoing(prefix, c.outgoing());
            } catch (IOException e) {
                throw new IllegalStateException("cannot frame a snapshot chunk", e);
            }
        }

        @Override
        public Frame parse(InputStream stream) {
            try {
                WireCodec.Split split = WireCodec.split(stream, SnapshotChunk.DATA_FIELD_NUMBER);
                if (split.field() == SnapshotFrame.HEADER_FIELD_NUMBER) {
                    if (split.payload() != null) { // a header has no length-delimited field 4; refuse, don't leak
                        split.payload().close();
                        throw new IOException("snapshot header with a field 4 payload");
                    }
                    return new Header(SnapshotHeader.parseFrom(split.rest()));
                }
                if (split.field() != SnapshotFrame.CHUNK_FIELD_NUMBER) {
                    throw new IOException("unknown snapshot frame field " + split.field());
                }
                Payload data = split.payload() == null ? Payload.of(new byte[0]) : split.payload();
                try {
                    return new Chunk(SnapshotChunk.parseFrom(split.rest()), null, data);
                } catch (IOException e) {
                    data.close();
                    throw e;
                }
            } catch (IOException e) {
                throw Status.INTERNAL.withDescription("malformed snapshot frame: " + e.getMessage()).withCause(e)
                        .asRuntimeException();
            }
        }
    }
}
