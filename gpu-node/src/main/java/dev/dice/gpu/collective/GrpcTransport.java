package dev.dice.gpu.collective;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;

/**
 * How the collectives open their gRPC servers and channels: plaintext (the default) or mutual TLS from a
 * keystore and a truststore (the same files as the nodes' Artery TLS, made by {@code ops/scripts/gen-tls.sh}).
 * With TLS a server accepts only clients holding a certificate its truststore trusts, and a client checks the
 * server's certificate against {@code clusterName} rather than the dialled host: peers' addresses are not known
 * when the certificate is made.
 */
public final class GrpcTransport {
    public static final GrpcTransport PLAINTEXT = new GrpcTransport(null, null, null);

    private final SslContext serverContext;
    private final SslContext clientContext;
    private final String clusterName;

    private GrpcTransport(SslContext serverContext, SslContext clientContext, String clusterName) {
        this.serverContext = serverContext;
        this.clientContext = clientContext;
        this.clusterName = clusterName;
    }

    /**
     * Mutual TLS with this node's key and certificate from {@code keystore} (PKCS12 or JKS) and the peers'
     * certificates from {@code truststore}.
     */
    public static GrpcTransport tls(Path keystore, char[] keystorePassword, Path truststore, char[] truststorePassword,
            String clusterName) {
        try {
            KeyManagerFactory keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(KeyStore.getInstance(keystore.toFile(), keystorePassword), keystorePassword);
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(KeyStore.getInstance(truststore.toFile(), truststorePassword));
            SslContext server = GrpcSslContexts.configure(SslContextBuilder.forServer(keys)).trustManager(trust)
                    .clientAuth(ClientAuth.REQUIRE).build();
            SslContext client = GrpcSslContexts.forClient().keyManager(keys).trustManager(trust).build();
            return new GrpcTransport(server, client, clusterName);
        } catch (IOException | GeneralSecurityException e) {
            throw new IllegalArgumentException("gRPC TLS: cannot load keystore " + keystore + " / truststore "
                    + truststore + ": " + e.getMessage(), e);
        }
    }

    public boolean isTls() {
        return serverContext != null;
    }

    NettyServerBuilder server(InetSocketAddress address) {
        NettyServerBuilder builder = NettyServerBuilder.forAddress(address);
        return isTls() ? builder.sslContext(serverContext) : builder;
    }

    NettyChannelBuilder channel(String host, int port) {
        NettyChannelBuilder builder = NettyChannelBuilder.forAddress(host, port);
        return isTls() ? builder.sslContext(clientContext).overrideAuthority(clusterName) : builder.usePlaintext();
    }

    /**
     * A server for a link that carries bulk payloads. Plaintext: its HTTP/2 connection asks for DATA frames of up to
     * 1 MiB instead of 16 KiB and keeps a socket read that ends inside a frame as a list of the transport's buffers
     * instead of copying every later read behind it ({@link BulkLinkNegotiator}). With TLS gRPC's defaults stay
     * (16 KiB frames, copied partial reads): not measured there.
     */
    NettyServerBuilder bulkServer(InetSocketAddress address) {
        return isTls() ? server(address) : NettyServerBuilder.forAddress(address, BulkLinkNegotiator.server())
                .withChildOption(ChannelOption.WRITE_BUFFER_WATER_MARK, BulkLinkNegotiator.WATER_MARK);
    }

    /** A channel for a link that carries bulk payloads, see {@link #bulkServer}. */
    NettyChannelBuilder bulkChannel(String host, int port) {
        return isTls() ? channel(host, port) : NettyChannelBuilder.forAddress(host, port, BulkLinkNegotiator.channel())
                .withOption(ChannelOption.WRITE_BUFFER_WATER_MARK, BulkLinkNegotiator.WATER_MARK);
    }
}
