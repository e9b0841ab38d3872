package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The image archive that ops/image/build.sh makes (target/image/dice-cluster-0.1.0.oci.tar) against ops/k8s: the
 * manifests name the image the build tags, run its entrypoint, expose exactly its ports and mount its run volume, as
 * its non-root user; and the image runs ({@code dice --help}, then a {@code --preset smoke} run, through
 * ops/image/run.sh: layers unpacked, chroot, the image's user, env and working directory). Skipped, with the command to run, where the archive was not built:
 * the build is a separate step (docs/cluster.md, "An image").
 */
class ImageTest {
    private static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    private static final Path ARCHIVE = ROOT.resolve("target/image/dice-cluster-0.1.0.oci.tar");
    private static final String IMAGE = "dice-cluster:0.1.0";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final String SKIP = "no image archive at " + ARCHIVE + ": build it with `ops/image/build.sh`"
            + " (root, Debian's mmdebstrap and umoci; about a minute) to run this test";

    private static JsonNode manifest;
    private static JsonNode config;
    private static final List<JsonNode> containers = new ArrayList<>();

    @BeforeAll
    static void read() throws IOException {
        try (Stream<Path> files = Files.list(ROOT.resolve("ops/k8s"))) {
            for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
                try (MappingIterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(file.toFile())) {
                    while (docs.hasNext()) {
                        JsonNode doc = docs.next();
                        if (doc != null && Set.of("StatefulSet", "Deployment").contains(doc.path("kind").asText())) {
                            doc.at("/spec/template/spec/containers").forEach(c -> containers.add(
                                    ((com.fasterxml.jackson.databind.node.ObjectNode) c.deepCopy())
                                            .set("pod", doc.at("/spec/template/spec"))));
                        }
                    }
                }
            }
        }
        assertTrue(containers.size() >= 4, "workloads in ops/k8s");
        if (!Files.isRegularFile(ARCHIVE)) {
            return;
        }
        Map<String, byte[]> small = readSmallEntries(ARCHIVE);
        JsonNode index = JSON.readTree(small.get("index.json"));
        JsonNode entry = index.at("/manifests/0");
        assertEquals("0.1.0", entry.at("/annotations/org.opencontainers.image.ref.name").asText(), "the archive's tag");
        manifest = JSON.readTree(blob(small, entry.get("digest").asText()));
        config = JSON.readTree(blob(small, manifest.at("/config/digest").asText()));
    }

    @Test
    void theManifestsRunTheImageAsItIsBuilt() {
        assumeTrue(config != null, SKIP);
        JsonNode c = config.get("config");
        List<String> entrypoint = strings(c.get("Entrypoint"));
        String workdir = c.get("WorkingDir").asText();
        assertEquals(List.of("/opt/dice/dice"), entrypoint, "the launcher is the entrypoint");
        String user = c.get("User").asText();
        String uid = user.split(":")[0];
        assertNotEquals("0", uid, "non-root user");
        assertNotEquals("root", uid, "non-root user");
        Map<String, String> env = new HashMap<>();
        strings(c.get("Env")).forEach(e -> env.put(e.substring(0, e.indexOf('=')), e.substring(e.indexOf('=') + 1)));
        assertTrue(env.get("DJL_CACHE_DIR").startsWith("/tmp/"), "DJL unpacks libtorch under /tmp: " + env);
        assertTrue(env.containsKey("HOME") && env.containsKey("PATH") && env.containsKey("JAVA_HOME"), env.toString());
        Set<String> exposed = new TreeSet<>();
        c.get("ExposedPorts").fieldNames().forEachRemaining(exposed::add);
        Set<String> volumes = new TreeSet<>();
        c.get("Volumes").fieldNames().forEachRemaining(volumes::add);

        for (JsonNode container : containers) {
            String where = container.get("name").asText() + " " + strings(container.get("command"));
            assertEquals(IMAGE, container.get("image").asText(), where + ": the name and tag ops/image/build.sh makes");
            // The manifests' command replaces the entrypoint; it resolves against the image's working directory.
            String command0 = container.at("/command/0").asText();
            String resolved = command0.startsWith("/") ? command0 : Path.of(workdir).resolve(command0).normalize().toString();
            assertEquals(entrypoint.get(0), resolved, where + ": runs the image's launcher");
            // Each port the manifests name (Pekko remoting, Pekko management, metrics) is one the image exposes, and
            // the image exposes no other.
            Set<String> ports = new TreeSet<>();
            container.get("ports").forEach(p -> ports.add(p.get("containerPort").asInt() + "/"
                    + p.path("protocol").asText("TCP").toLowerCase()));
            assertEquals(exposed, ports, where + ": container ports = the image's ExposedPorts");
            for (JsonNode e : container.get("env")) {
                assertTrue(!env.containsKey(e.get("name").asText()), where + ": overrides the image's " + e.get("name"));
            }
            // The run directory's volume: where the image declares one, the manifests mount it.
            Set<String> mounts = new TreeSet<>();
            container.get("volumeMounts").forEach(m -> mounts.add(m.get("mountPath").asText()));
            assertTrue(mounts.containsAll(volumes), where + ": mounts " + volumes + ", has " + mounts);
            // The pod runs as the image's user (a non-root uid that the kubelet can verify).
            JsonNode security = container.path("securityContext");
            assertEquals(Long.parseLong(uid), security.path("runAsUser").asLong(-1), where + ": runAsUser");
            assertTrue(security.path("runAsNonRoot").asBoolean(false), where + ": runAsNonRoot");
            assertEquals(Long.parseLong(user.split(":")[1]), container.at("/pod/securityContext/fsGroup").asLong(-1),
                    where + ": fsGroup = the image's gid, so the run volume is writable");
            // A read-only root filesystem (as ops/image/run.sh runs it under runc) with /tmp writable: DJL unpacks
            // libtorch there (DJL_CACHE_DIR), the JVM writes its temp files there.
            assertTrue(security.path("readOnlyRootFilesystem").asBoolean(false), where + ": readOnlyRootFilesystem");
            assertTrue(mounts.contains("/tmp"), where + ": /tmp mounted writable under a read-only root");
        }
    }

    @Test
    void applicationLayersAreSeparateFromTheBaseAndTheDependencies() {
        assumeTrue(manifest != null, SKIP);
        JsonNode layers = manifest.get("layers");
        assertEquals(3, layers.size(), "base, dependency jars, application: " + layers);
        long app = layers.get(2).get("size").asLong();
        assertTrue(app < 5L << 20, "the application layer (app jar + launcher) is small: " + app + " bytes");
        List<String> history = new ArrayList<>();
        config.get("history").forEach(h -> history.add(h.path("created_by").asText()));
        assertEquals(List.of("ops/image/build.sh: base layer", "ops/image/build.sh: deps layer",
                "ops/image/build.sh: app layer"), history);
    }

    /** The image runs: layers unpacked into a root filesystem, the entrypoint under chroot (no container runtime). */
    @Test
    void theImagesEntrypointRunsFromItsUnpackedLayers() throws Exception {
        assumeTrue(config != null, SKIP);
        assumeTrue("root".equals(System.getProperty("user.name")), "ops/image/run.sh needs root (chroot, mounts)");
        assumeTrue(new ProcessBuilder("sh", "-c", "command -v umoci").start().waitFor() == 0, "umoci is not installed");
        Process p = new ProcessBuilder(ROOT.resolve("ops/image/run.sh").toString(), ARCHIVE.toString(), "--", "--help")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "ops/image/run.sh timed out");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("as " + config.at("/config/User").asText() + " in /opt/dice"), out);
        assertTrue(out.contains("Usage: dice") && out.contains("node "), out);
    }

    /** A smoke run inside the image's root filesystem: libtorch loads offline from the image's native jar. */
    @Test
    void aSmokeRunFinishesInsideTheImage() throws Exception {
        assumeTrue(config != null, SKIP);
        assumeTrue("root".equals(System.getProperty("user.name")), "ops/image/run.sh needs root (chroot, mounts)");
        assumeTrue(new ProcessBuilder("sh", "-c", "command -v umoci").start().waitFor() == 0, "umoci is not installed");
        Process p = new ProcessBuilder(ROOT.resolve("ops/image/run.sh").toString(), ARCHIVE.toString(), "--",
                "run", "--preset", "smoke", "--out", "/var/lib/dice/runs/smoke").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "ops/image/run.sh timed out");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("run /var/lib/dice/runs/smoke finished") && out.contains("round2 "), out);
    }

    private static List<String> strings(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(s -> out.add(s.asText()));
        return out;
    }

    private static byte[] blob(Map<String, byte[]> entries, String digest) {
        byte[] b = entries.get("blobs/sha256/" + digest.substring("sha256:".length()));
        assertTrue(b != null, "blob " + digest + " is in the archive");
        return b;
    }

    /** The entries of an uncompressed tar that are under 1 MiB (the JSON ones), names without a leading "./". */
    private static Map<String, byte[]> readSmallEntries(Path tar) throws IOException {
        Map<String, byte[]> out = new HashMap<>();
        try (InputStream in = Files.newInputStream(tar)) {
            byte[] header = new byte[512];
            String longName = null;
            while (in.readNBytes(header, 0, 512) == 512 && header[0] != 0) {
                String name = longName != null ? longName : cstring(header, 0, 100);
                longName = null;
                String prefix = cstring(header, 345, 155);
                if (!prefix.isEmpty()) {
                    name = prefix + "/" + name;
                }
                long size = Long.parseLong(cstring(header, 124, 12).trim().isEmpty() ? "0" : cstring(header, 124, 12).trim(), 8);
                char type = (char) header[156];
                long padded = (size + 511) / 512 * 512;
                if (type == 'L' || (size < (1 << 20) && (type == '0' || type == 0))) {
                    byte[] data = in.readNBytes((int) size);
                    in.skipNBytes(padded - size);
                    if (type == 'L') {
                        longName = cstring(data, 0, data.length);
                    } else {
                        out.put(name.startsWith("./") ? name.substring(2) : name, data);
                    }
                } else {
                    in.skipNBytes(padded);
                }
            }
        }
        return out;
    }

    private static String cstring(byte[] b, int off, int len) {
        int end = off;
        while (end < off + len && b[end] != 0) {
            end++;
        }
        return new String(b, off, end - off, StandardCharsets.US_ASCII);
    }
}
