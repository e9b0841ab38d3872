package dev.dice.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.collective.GrpcTransport;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.DisabledJavaSerializer;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The security defaults of a node's configuration: loopback, no Java serialization, TLS only when asked for. */
class NodesTest {

    /** A message class that is not part of the wire protocol, but would be Java-serializable. */
    record NotWire(String text) implements Serializable {}

    @Test
    void defaultsBindLoopbackWithPlaintextRemotingAndRefuseJavaSerialization() {
        Config config = Nodes.config(ConfigFactory.empty());
        assertEquals("127.0.0.1", config.getString("pekko.remote.artery.canonical.hostname"));
        assertEquals("", config.getString("pekko.remote.artery.bind.hostname"), "binds where it advertises: loopback");
        assertEquals("127.0.0.1", config.getString("pekko.management.http.hostname"));
        assertEquals("tcp", config.getString("pekko.remote.artery.transport"));
        assertFalse(config.getBoolean("pekko.actor.allow-java-serialization"));
        assertEquals("seed-nodes", config.getString("dice.cluster.bootstrap"));
        assertFalse(config.getString("dice.version").contains("@"), "dice.version filled in by the build");

        ActorTestKit kit = ActorTestKit.create("nodes", config);
        try {
            Serialization serialization = SerializationExtension.get(kit.system());
            Serializer serializer = serialization.findSerializerFor(new NotWire("x"));
            assertTrue(serializer instanceof DisabledJavaSerializer, serializer.getClass().getName());
            assertThrows(Exception.class, () -> serializer.toBinary(new NotWire("x")));
        } finally {
            kit.shutdownTestKit();
        }
    }

    @Test
    void tlsSwitchesArteryToTlsTcpWithTheConfiguredStores(@TempDir Path dir) throws Exception {
        Path keystore = Files.writeString(dir.resolve("k.p12"), "not read here");
        Path truststore = Files.writeString(dir.resolve("t.p12"), "not read here");
        Config config = Nodes.config(ConfigFactory.parseString("dice.tls { enabled = on, keystore = \"" + keystore
                + "\", truststore = \"" + truststore + "\", keystore-password = secret, truststore-password = s2 }"));
        String engine = "pekko.remote.artery.ssl.config-ssl-engine.";
        assertEquals("tls-tcp", config.getString("pekko.remote.artery.transport"));
        assertEquals(keystore.toString(), config.getString(engine + "key-store"));
        assertEquals("secret", config.getString(engine + "key-password"));
        assertEquals(truststore.toString(), config.getString(engine + "trust-store"));
        assertEquals("s2", config.getString(engine + "trust-store-password"));
        assertTrue(config.getBoolean(engine + "require-mutual-authentication"));
        assertFalse(NodeTls.from(config).toString().contains("secret"), "passwords stay out of logs");
        assertTrue(NodeTls.from(Nodes.config(ConfigFactory.empty())).grpc() == GrpcTransport.PLAINTEXT);
    }

    @Test
    void tlsWithoutReadableStoresNamesTheKey(@TempDir Path dir) {
        BadInputException missing = assertThrows(BadInputException.class, () -> Nodes.config(
                ConfigFactory.parseString("dice.tls.enabled = on")));
        assertTrue(missing.getMessage().startsWith("dice.tls.keystore: required"), missing.getMessage());
        BadInputException unreadable = assertThrows(BadInputException.class, () -> Nodes.config(ConfigFactory.parseString(
                "dice.tls { enabled = on, keystore = \"" + dir.resolve("none.p12") + "\" }")));
        assertTrue(unreadable.getMessage().contains("dice.tls.keystore: cannot read " + dir.resolve("none.p12")),
                unreadable.getMessage());
    }
}
