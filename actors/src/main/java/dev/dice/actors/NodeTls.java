package dev.dice.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.collective.GrpcTransport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A node's TLS settings ({@code dice.tls}): one keystore and truststore serve Artery remoting (transport
 * {@code tls-tcp}, mutual authentication) and the collectives' gRPC ({@link GrpcTransport}).
 */
public record NodeTls(boolean enabled, Path keystore, String keystorePassword, Path truststore,
        String truststorePassword, String clusterName) {

    public static NodeTls from(Config root) {
        Config c = root.getConfig("dice.tls");
        if (!c.getBoolean("enabled")) {
            return new NodeTls(false, null, "", null, "", c.getString("cluster-name"));
        }
        return new NodeTls(true, existing(c, "keystore"), c.getString("keystore-password"), existing(c, "truststore"),
                c.getString("truststore-password"), c.getString("cluster-name"));
    }

    private static Path existing(Config c, String key) {
        String file = c.getString(key);
        if (file.isBlank()) {
            throw new BadInputException("dice.tls." + key + ": required when dice.tls.enabled = on "
                    + "(ops/scripts/gen-tls.sh makes one)");
        }
        Path path = Path.of(file).toAbsolutePath();
        if (!Files.isReadable(path)) {
            throw new BadInputException("dice.tls." + key + ": cannot read " + path);
        }
        return path;
    }

    /** Pekko settings for Artery over TLS with these stores; empty when TLS is off. */
    public Config pekkoConfig() {
        if (!enabled) {
            return ConfigFactory.empty();
        }
        String engine = "pekko.remote.artery.ssl.config-ssl-engine.";
        return ConfigFactory.parseMap(Map.of(
                "pekko.remote.artery.transport", "tls-tcp",
                engine + "key-store", keystore.toString(),
                engine + "key-store-password", keystorePassword,
                // PKCS12 (what gen-tls.sh writes) has one password for the store and its key.
                engine + "key-password", keystorePassword,
                engine + "trust-store", truststore.toString(),
                engine + "trust-store-password", truststorePassword,
                engine + "require-mutual-authentication", "on"));
    }

    /** Without the passwords: this may end up in a log. */
    @Override
    public String toString() {
        return "NodeTls[enabled=" + enabled + ", keystore=" + keystore + ", truststore=" + truststore
                + ", cluster-name=" + clusterName + "]";
    }

    /** The collectives' gRPC transport: mutual TLS with these stores, or plaintext when TLS is off. */
    public GrpcTransport grpc() {
        return enabled ? GrpcTransport.tls(keystore, keystorePassword.toCharArray(), truststore,
                truststorePassword.toCharArray(), clusterName) : GrpcTransport.PLAINTEXT;
    }
}
