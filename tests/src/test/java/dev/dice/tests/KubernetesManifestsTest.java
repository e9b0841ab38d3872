package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * ops/k8s checked offline (no API server here): every document parses and names itself, the kustomization lists
 * every manifest, and the references between them hold — labels and selectors, the service account and its pod
 * listing rights, ConfigMap, Secret and volume names, named ports, the roles, and the node configuration's ports
 * and discovery settings.
 */
class KubernetesManifestsTest {
    private static final Path DIR = Path.of("..", "ops", "k8s");
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    /** kind/name -> document, from every file (the example Secrets included). */
    private static final Map<String, JsonNode> byName = new HashMap<>();
    private static final List<JsonNode> workloads = new ArrayList<>();

    @BeforeAll
    static void parse() throws IOException {
        try (Stream<Path> files = Files.list(DIR)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                if (file.getFileName().toString().equals("kustomization.yaml")) {
                    continue;
                }
                try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
                    while (docs.hasNext()) {
                        JsonNode doc = docs.next();
                        for (String field : List.of("apiVersion", "kind")) {
                            assertTrue(doc.hasNonNull(field), file + ": a document without " + field);
                        }
                        String name = doc.path("metadata").path("name").asText();
                        assertTrue(!name.isEmpty(), file + ": a " + doc.get("kind").asText() + " without metadata.name");
                        byName.put(doc.get("kind").asText() + "/" + name, doc);
                        if (Set.of("StatefulSet", "Deployment").contains(doc.get("kind").asText())) {
                            workloads.add(doc);
                        }
                    }
                }
            }
        }
    }

    private static JsonNode get(String kindAndName) {
        JsonNode doc = byName.get(kindAndName);
        assertNotNull(doc, kindAndName + " is referenced but defined nowhere in ops/k8s");
        return doc;
    }

    @Test
    void kustomizationListsEveryManifestButTheExampleSecrets() throws IOException {
        JsonNode kustomization = YAML.readTree(DIR.resolve("kustomization.yaml").toFile());
        Set<String> listed = new TreeSet<>();
        kustomization.get("resources").forEach(r -> listed.add(r.asText()));
        Set<String> files = new TreeSet<>();
        try (Stream<Path> all = Files.list(DIR)) {
            all.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".yaml"))
                    .filter(f -> !f.equals("kustomization.yaml") && !f.equals("secrets.example.yaml")).forEach(files::add);
        }
        assertEquals(files, listed);
    }

    @Test
    void everyRoleRunsInPodsThatBootstrapCanFindAndStart() {
        Set<String> roles = new HashSet<>();
        JsonNode service = get("Service/dice");
        assertEquals("None", service.at("/spec/clusterIP").asText(), "headless");
        assertTrue(service.at("/spec/publishNotReadyAddresses").asBoolean(), "bootstrap probes pods before they are ready");
        for (JsonNode w : workloads) {
            String where = w.get("kind").asText() + "/" + w.at("/metadata/name").asText();
            JsonNode labels = w.at("/spec/template/metadata/labels");
            w.at("/spec/selector/matchLabels").fields().forEachRemaining(e ->
                    assertEquals(e.getValue(), labels.get(e.getKey()), where + ": selector matches the pod labels"));
            service.at("/spec/selector").fields().forEachRemaining(e ->
                    assertEquals(e.getValue(), labels.get(e.getKey()), where + ": pods are behind Service/dice"));
            if (w.get("kind").asText().equals("StatefulSet")) {
                assertEquals("dice", w.at("/spec/serviceName").asText(), where);
            }
            JsonNode pod = w.at("/spec/template/spec");
            String account = pod.get("serviceAccountName").asText();
            get("ServiceAccount/" + account);
            assertTrue(mayListPods(account), where + ": ServiceAccount " + account + " may not list pods");

            Set<String> volumes = new HashSet<>();
            for (JsonNode v : pod.get("volumes")) {
                volumes.add(v.get("name").asText());
                if (v.has("configMap")) {
                    get("ConfigMap/" + v.at("/configMap/name").asText());
                } else if (v.has("secret")) {
                    get("Secret/" + v.at("/secret/secretName").asText());
                } else if (v.has("emptyDir")) {
                    continue;
                } else {
                    get("PersistentVolumeClaim/" + v.at("/persistentVolumeClaim/claimName").asText());
                }
            }
            JsonNode container = pod.get("containers").get(0);
            container.get("volumeMounts").forEach(m -> assertTrue(volumes.contains(m.get("name").asText()), where));
            for (JsonNode env : container.get("env")) {
                JsonNode ref = env.at("/valueFrom/secretKeyRef");
                if (!ref.isMissingNode()) {
                    JsonNode secret = get("Secret/" + ref.get("name").asText());
                    assertTrue(secret.at("/stringData").has(ref.get("key").asText()), where + ": " + ref);
                }
            }
            Map<String, Integer> ports = new HashMap<>();
            container.get("ports").forEach(p -> ports.put(p.get("name").asText(), p.get("containerPort").asInt()));
            service.at("/spec/ports").forEach(p -> assertEquals(p.get("port").asInt(), ports.get(p.get("name").asText()),
                    where + ": port " + p.get("name")));
            for (String probe : List.of("readinessProbe", "livenessProbe")) {
                assertTrue(ports.containsKey(container.at("/" + probe + "/httpGet/port").asText()), where + " " + probe);
            }
            List<String> command = new ArrayList<>();
            container.get("command").forEach(c -> command.add(c.asText()));
            assertEquals(List.of("./dice", "node"), command.subList(0, 2), where);
            roles.addAll(List.of(command.get(command.indexOf("--roles") + 1).split(",")));
        }
        assertEquals(Set.of("coordinator", "replay", "trainer", "generator", "scorer"), roles);
    }

    private static boolean mayListPods(String account) {
        for (JsonNode binding : byName.values()) {
            if (!binding.get("kind").asText().equals("RoleBinding")) {
                continue;
            }
            boolean ours = false;
            for (JsonNode s : binding.get("subjects")) {
                ours |= s.get("kind").asText().equals("ServiceAccount") && s.get("name").asText().equals(account);
            }
            if (ours) {
                for (JsonNode rule : get("Role/" + binding.at("/roleRef/name").asText()).get("rules")) {
                    if (rule.get("resources").toString().contains("\"pods\"") && rule.get("verbs").toString().contains("\"list\"")) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    @Test
    void nodeConfigurationMatchesThePodsAndTurnsOnBootstrapTlsAndPostgres() {
        String text = get("ConfigMap/dice-node").at("/data/node.conf").asText();
        Config env = ConfigFactory.parseMap(Map.of("POD_IP", "10.1.2.3", "DICE_JOURNAL_URL", "jdbc:postgresql://db/dice",
                "DICE_JOURNAL_USER", "dice", "DICE_JOURNAL_PASSWORD", "pw"));
        Config node = ConfigFactory.parseString(text).resolveWith(env);
        assertEquals("kubernetes", node.getString("dice.cluster.bootstrap"));
        assertEquals("postgres", node.getString("dice.journal.kind"));
        assertEquals("jdbc:postgresql://db/dice", node.getString("dice.journal.url"));
        assertTrue(node.getBoolean("dice.tls.enabled"));
        assertTrue(node.getString("dice.tls.keystore").startsWith("/etc/dice/tls/"));
        assertTrue(!node.getString("dice.run-id").isEmpty());
        assertEquals("10.1.2.3", node.getString("pekko.remote.artery.canonical.hostname"));
        assertEquals("10.1.2.3", node.getString("pekko.management.http.hostname"));

        JsonNode ports = get("Service/dice").at("/spec/ports");
        Map<String, Integer> byPortName = new HashMap<>();
        ports.forEach(p -> byPortName.put(p.get("name").asText(), p.get("port").asInt()));
        assertEquals(byPortName.get("remoting"), node.getInt("pekko.remote.artery.canonical.port"));
        assertEquals(byPortName.get("management"), node.getInt("pekko.management.http.port"));
        assertEquals(byPortName.get("metrics"), node.getInt("dice.metrics.port"));
        String discovery = "pekko.management.cluster.bootstrap.contact-point-discovery.";
        assertEquals("management", node.getString(discovery + "port-name"));
        String selector = String.format(node.getString("pekko.discovery.kubernetes-api.pod-label-selector"),
                node.getString(discovery + "service-name"));
        for (JsonNode w : workloads) {
            String[] kv = selector.split("=");
            assertEquals(kv[1], w.at("/spec/template/metadata/labels/" + kv[0]).asText(), "bootstrap finds " + selector);
        }
        int pods = workloads.stream().mapToInt(w -> w.at("/spec/replicas").asInt()).sum();
        int needed = node.getInt(discovery + "required-contact-point-nr");
        assertTrue(needed >= 3 && needed <= pods, "keep-majority needs 3 nodes; " + pods + " pods, " + needed + " needed");
    }
}
