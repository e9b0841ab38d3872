package dev.dice.actors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.collective.FreePorts;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code dice.cluster.bootstrap = kubernetes} starts pekko-management on loopback with the cluster bootstrap
 * routes that other pods probe. (Discovery itself needs a Kubernetes API server; without one it keeps retrying.)
 */
class NodeBootstrapTest {

    @Test
    void kubernetesBootstrapServesTheContactPointOnLoopback(@TempDir Path dir) throws Exception {
        // What a pod has mounted: the API server's CA (any certificate will do here), the token, the namespace.
        Process tls = new ProcessBuilder("bash", "../ops/scripts/gen-tls.sh", dir.toString()).redirectErrorStream(true)
                .start();
        tls.getInputStream().transferTo(OutputStream.nullOutputStream());
        assertEquals(0, tls.waitFor(), "ops/scripts/gen-tls.sh");
        Files.writeString(dir.resolve("token"), "not-a-real-token");
        int port = FreePorts.loopback();
        ActorTestKit kit = ActorTestKit.create("dice", Nodes.config(ConfigFactory.parseString(
                "dice.cluster.bootstrap = kubernetes\npekko.management.http.port = " + port
                        + "\npekko.management.cluster.bootstrap.contact-point-discovery.service-name = dice"
                        + "\npekko.discovery.kubernetes-api { api-ca-path = \"" + dir.resolve("node.crt")
                        + "\", api-token-path = \"" + dir.resolve("token") + "\", pod-namespace = dice }")));
        try {
            assertTrue(NodeBootstrap.start(kit.system()));
            String self = Cluster.get(kit.system()).selfMember().address().toString();
            HttpResponse<String> seeds = null;
            for (int attempt = 0; attempt < 100 && seeds == null; attempt++) { // the server binds asynchronously
                try {
                    seeds = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                            URI.create("http://127.0.0.1:" + port + "/bootstrap/seed-nodes")).build(),
                            HttpResponse.BodyHandlers.ofString());
                } catch (java.net.ConnectException notYet) {
                    Thread.sleep(100);
                }
            }
            assertEquals(200, seeds.statusCode());
            assertTrue(seeds.body().contains(self), seeds.body());
        } finally {
            kit.shutdownTestKit();
        }
    }

    @Test
    void seedNodesIsTheDefaultAndOtherModesAreRefused() {
        ActorTestKit kit = ActorTestKit.create("dice", Nodes.config(ConfigFactory.empty()));
        try {
            assertFalse(NodeBootstrap.start(kit.system()));
        } finally {
            kit.shutdownTestKit();
        }
        ActorTestKit bad = ActorTestKit.create("dice", Nodes.config(ConfigFactory.parseString(
                "dice.cluster.bootstrap = dns")));
        try {
            BadInputException e = assertThrows(BadInputException.class, () -> NodeBootstrap.start(bad.system()));
            assertTrue(e.getMessage().startsWith("dice.cluster.bootstrap: expected seed-nodes or kubernetes, got 'dns'"));
        } finally {
            bad.shutdownTestKit();
        }
    }
}
