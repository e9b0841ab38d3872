package dev.dice.gpu.collective;

import io.grpc.ChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.shaded.io.grpc.netty.InternalNettyChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.InternalNettyServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandler;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandlerContext;
import io.grpc.netty.shaded.io.netty.channel.WriteBufferWaterMark;
import io.grpc.netty.shaded.io.netty.handler.codec.ByteToMessageDecoder;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2ConnectionEncoder;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2Exception;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2FrameListener;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2FrameListenerDecorator;
import io.grpc.netty.shaded.io.netty.handler.codec.http2.Http2Settings;
import io.grpc.netty.shaded.io.netty.util.AsciiString;

/**
 * Plaintext gRPC credentials for links that carry bulk payloads, with two changes to grpc-java's HTTP/2
 * connection that it has no setting for:
 * <ul>
 *   <li>Large DATA frames. Each side asks its peer for frames of up to {@link #MAX_FRAME_BYTES} instead of HTTP/2's
 *       default 16 KiB, with a SETTINGS frame of its own answering the peer's first one. Every frame is decoded,
 *       flow-controlled and handed to gRPC's deframer on its own, so a MiB costs 64 of those steps at 16 KiB.
 *       Netty applies the setting to this side's decoder when the peer acknowledges it; what a new link sends
 *       before the peer's setting arrives still goes in 16 KiB frames. The sender cuts a frame no larger than what
 *       its channel takes before it turns unwritable, so the links also need {@link #WATER_MARK} on their channels
 *       (with Netty's default, 64 KiB, frames stay that small).
 *   <li>Composite cumulation. A socket read that ends inside a frame, and the reads after it, stay a list of the
 *       transport's buffers; Netty's default copies every later read behind the partial frame into one buffer,
 *       which on a loopback ring is almost every byte received (and with large frames would be all of them).
 * </ul>
 */
final class BulkLinkNegotiator implements InternalProtocolNegotiator.ProtocolNegotiator {
    /** The largest DATA frame each side accepts (HTTP/2 allows up to 16 MiB − 1). */
    static final int MAX_FRAME_BYTES = 1 << 20;
    /** Bytes a link's channel queues before it turns unwritable: room for several frames of the largest size. */
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(2 << 20, 4 << 20);

    private final InternalProtocolNegotiator.ProtocolNegotiator plaintext;

    private BulkLinkNegotiator(InternalProtocolNegotiator.ProtocolNegotiator plaintext) {
        this.plaintext = plaintext;
    }

    static ServerCredentials server() {
        return InternalNettyServerCredentials.create(new BulkLinkNegotiator(InternalProtocolNegotiators.serverPlaintext()));
    }

    static ChannelCredentials channel() {
        return InternalNettyChannelCredentials.create(new InternalProtocolNegotiator.ClientFactory() {
            @Override
            public InternalProtocolNegotiator.ProtocolNegotiator newNegotiator() {
                return new BulkLinkNegotiator(InternalProtocolNegotiators.plaintext());
            }

            @Override
            public int getDefaultPort() {
                return 80;
            }
        });
    }

    @Override
    public AsciiString scheme() {
        return plaintext.scheme();
    }

    @Override
    public ChannelHandler newHandler(GrpcHttp2ConnectionHandler grpc) {
        grpc.setCumulator(ByteToMessageDecoder.COMPOSITE_CUMULATOR);
        grpc.decoder().frameListener(new AskForLargeFrames(grpc.decoder().frameListener(), grpc.encoder()));
        return plaintext.newHandler(grpc);
    }

    @Override
    public void close() {
        plaintext.close();
    }

    /**
     * Sends {@link #MAX_FRAME_BYTES} once the peer's first SETTINGS arrives: by then this side's connection preface
     * is out (the setting may not precede it), and the peer applies it before any DATA frame it writes later.
     */
    private static final class AskForLargeFrames extends Http2FrameListenerDecorator {
        private final Http2ConnectionEncoder encoder;
        private boolean asked;

        AskForLargeFrames(Http2FrameListener grpc, Http2ConnectionEncoder encoder) {
            super(grpc);
            this.encoder = encoder;
        }

        @Override
        public void onSettingsRead(ChannelHandlerContext ctx, Http2Settings settings) throws Http2Exception {
            super.onSettingsRead(ctx, settings);
            if (!asked) {
                asked = true;
                encoder.writeSettings(ctx, new Http2Settings().maxFrameSize(MAX_FRAME_BYTES), ctx.newPromise());
                ctx.flush();
            }
        }
    }
}
