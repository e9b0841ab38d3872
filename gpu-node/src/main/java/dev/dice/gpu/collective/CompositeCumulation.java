package dev.dice.gpu.collective;

import io.grpc.ChannelCredentials;
import io.grpc.ServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.GrpcHttp2ConnectionHandler;
import io.grpc.netty.shaded.io.grpc.netty.InternalNettyChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.InternalNettyServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiator;
import io.grpc.netty.shaded.io.grpc.netty.InternalProtocolNegotiators;
import io.grpc.netty.shaded.io.netty.channel.ChannelHandler;
import io.grpc.netty.shaded.io.netty.handler.codec.ByteToMessageDecoder;
import io.grpc.netty.shaded.io.netty.util.AsciiString;

/**
 * Plaintext gRPC credentials whose HTTP/2 decoder keeps the bytes of a socket read that ends inside a frame as a
 * list of the transport's buffers instead of copying every later read behind them.
 */
final class CompositeCumulation implements InternalProtocolNegotiator.ProtocolNegotiator {
    private final InternalProtocolNegotiator.ProtocolNegotiator plaintext;

    private CompositeCumulation(InternalProtocolNegotiator.ProtocolNegotiator plaintext) {
        this.plaintext = plaintext;
    }

    static ServerCredentials server() {
        return InternalNettyServerCredentials.create(new CompositeCumulation(InternalProtocolNegotiators.serverPlaintext()));
    }

    static ChannelCredentials channel() {
        return InternalNettyChannelCredentials.create(new InternalProtocolNegotiator.ClientFactory() {
            @Override
            public InternalProtocolNegotiator.ProtocolNegotiator newNegotiator() {
                return new CompositeCumulation(InternalProtocolNegotiators.plaintext());
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
        return plaintext.newHandler(grpc);
    }

    @Override
    public void close() {
        plaintext.close();
    }
}
