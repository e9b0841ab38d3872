package dev.dice.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValueFactory;
import dev.dice.gpu.collective.FreePorts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;

/**
 * A DICE cluster of JVMs on loopback, for {@code dice local-cluster} and the cluster tests. Each node is {@code dice
 * node} started with this JVM's java, classpath and flags (libtorch's threads shared out between the nodes); all
 * nodes read one configuration (the run's resolved {@code dice} block) and share the run directory, or, with
 * {@link Directories#OWN}, each node has its own run directory {@code <out>/nodes/<name>} and shares nothing on disk
 * (the run is named by {@code <out>}, node-1's directory holds the run's results). A node's output goes to {@code
 * <out>/nodes/<name>.log} and to {@code echo}. Nodes may be added while the cluster runs and killed with SIGKILL;
 * closing the cluster stops every node still running.
 */
public final class LocalCluster implements AutoCloseable {

    /** A generator's log line when it starts on a shard of round 1 (ShardWorker). */
    public static final Pattern ROUND1_GENERATION = Pattern.compile("works on round1 shard (\\d+) \\(generation");

    /** A trainer's log line when it has taken its first step in the first ring of round 1's DPO stage (TrainerActor). */
    public static final Pattern ROUND1_TRAINING = Pattern.compile("in ring round1-ring1: step \\d+ of \\d+ took");

    /**
     * A node to start: its name (for logs), its roles, and {@code dice.*} settings of its own above the run's (e.g. a
     * path that is different, or missing, on its machine).
     */
    public record NodeSpec(String name, Set<String> roles, Map<String, String> settings) {
        public NodeSpec(String name, Set<String> roles) {
            this(name, roles, Map.of());
        }
    }

    /** Whether the nodes share the run directory, or each has its own. */
    public enum Directories { SHARED, OWN }

    private final Path out;
    private final Directories directories;
    private final Config dice;
    private final int threads;
    private final Consumer<String> echo;
    private final int seedPort;
    private final Map<String, Node> nodes = new LinkedHashMap<>();

    /**
     * @param root    the run's resolved configuration: every node runs exactly it
     * @param nodes   how many nodes will run at once (they share this machine's cores)
     */
    public LocalCluster(Config root, int nodes, Consumer<String> echo) {
        this(root, nodes, Directories.SHARED, echo);
    }

    /** @param directories whether the nodes share {@code dice.out} or each has its own directory below it */
    public LocalCluster(Config root, int nodes, Directories directories, Consumer<String> echo) {
        this.out = Path.of(root.getString("dice.out")).toAbsolutePath();
        this.directories = directories;
        this.threads = Math.max(1, Runtime.getRuntime().availableProcessors() / nodes);
        this.echo = echo;
        this.seedPort = FreePorts.loopback();
        Config dice = root.getConfig("dice").withValue("out", ConfigValueFactory.fromAnyRef(out.toString()));
        this.dice = directories == Directories.SHARED ? dice
                : dice.withValue("run-id", ConfigValueFactory.fromAnyRef(out.toString()));
        try {
            Files.createDirectories(out.resolve("nodes"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The configuration file of a node: the run's, with the node's own directory when it has one, and its settings. */
    private Path configOf(NodeSpec spec) {
        String name = spec.name();
        Config node = directories == Directories.SHARED ? dice
                : dice.withValue("out", ConfigValueFactory.fromAnyRef(directoryOf(name).toString()));
        for (Map.Entry<String, String> setting : spec.settings().entrySet()) {
            node = node.withValue(setting.getKey(), ConfigValueFactory.fromAnyRef(setting.getValue()));
        }
        boolean shared = directories == Directories.SHARED && spec.settings().isEmpty();
        Path file = out.resolve("nodes").resolve(shared ? "dice.conf" : name + ".conf");
        try {
            Files.writeString(file, node.atPath("dice").root().render(ConfigRenderOptions.defaults()
                    .setOriginComments(false)));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /** Node {@code name}'s run directory. */
    public Path directoryOf(String name) {
        return directories == Directories.SHARED ? out : out.resolve("nodes").resolve(name);
    }

    /**
     * The run directory that holds the run's results: the coordinator's node's, node-1's unless the coordinator moved
     * to a node with its own directory (the first whose directory has {@code summary.json}).
     */
    public Path runDirectory() {
        return nodes().stream().map(n -> directoryOf(n.spec().name()))
                .filter(d -> Files.exists(d.resolve("summary.json"))).findFirst().orElse(directoryOf("node-1"));
    }

    /**
     * The default layout of {@code n} nodes: node-1 coordinator, replay, trainer, scorer; node-2 a generator and
     * scorer that can take over the coordinator, the replay buffer and training; the others generators.
     */
    public static List<NodeSpec> layout(int n) {
        return layout(n, 1);
    }

    /**
     * The default layout with the run's {@code trainers} on as many nodes (each node offers one): node-1 and node-2
     * as in {@link #layout(int)}, nodes 3 to {@code trainers} generators and trainers, the others generators.
     */
    public static List<NodeSpec> layout(int n, int trainers) {
        return layout(n, trainers, Directories.SHARED, false);
    }

    /**
     * {@link #layout(int, int)}. With {@link Directories#OWN} node-2 stands by for the coordinator and the replay
     * buffer only when the journal is one both reach ({@code sharedJournal}: PostgreSQL); it then keeps a copy of
     * node-1's run directory. With the H2 journal, which lives in node-1's directory, node-1 alone holds them.
     */
    public static List<NodeSpec> layout(int n, int trainers, Directories directories, boolean sharedJournal) {
        if (trainers > n) {
            throw new IllegalArgumentException("--trainers: " + trainers + " trainers need as many nodes, got --nodes " + n);
        }
        List<NodeSpec> specs = new ArrayList<>();
        specs.add(new NodeSpec("node-1", Set.of("coordinator", "replay", "trainer", "scorer")));
        specs.add(new NodeSpec("node-2", directories == Directories.SHARED || sharedJournal
                ? Set.of("generator", "scorer", "coordinator", "replay", "trainer")
                : Set.of("generator", "scorer", "trainer")));
        for (int i = 3; i <= n; i++) {
            specs.add(new NodeSpec("node-" + i, i <= trainers ? Set.of("generator", "trainer") : Set.of("generator")));
        }
        return specs;
    }

    public Path out() {
        return out;
    }

    /** Starts a node; the first node started is the seed the others join through. */
    public synchronized Node start(NodeSpec spec) {
        int port = nodes.isEmpty() ? seedPort : FreePorts.loopback();
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-Dai.djl.pytorch.num_threads=") && !arg.startsWith("-agentlib:jdwp")) {
                command.add(arg);
            }
        }
        command.addAll(List.of("-Dai.djl.pytorch.num_threads=" + threads, "-cp", System.getProperty("java.class.path"),
                Dice.class.getName(), "node", "--roles", String.join(",", new LinkedHashSet<>(spec.roles())),
                "--seed-nodes", "127.0.0.1:" + seedPort, "--port", Integer.toString(port), "--config",
                configOf(spec).toString(),
                "--metrics-node", spec.name())); // one host: the node's name tells its metrics apart
        try {
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
            builder.environment().put("OMP_WAIT_POLICY", "PASSIVE");
            Node node = new Node(spec, builder.start(), port);
            nodes.put(spec.name(), node);
            echo.accept("local-cluster: started " + spec.name() + " (pid " + node.process.pid() + ", port " + port
                    + ", roles " + spec.roles() + ")");
            return node;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    public synchronized Node node(String name) {
        return nodes.get(name);
    }

    public synchronized Collection<Node> nodes() {
        return List.copyOf(nodes.values());
    }

    /** Stops every node still running: SIGTERM (a node leaves the cluster), SIGKILL after 15 s. */
    @Override
    public void close() {
        List<Node> running = nodes().stream().filter(n -> n.process.isAlive()).toList();
        running.forEach(n -> n.process.destroy());
        for (Node n : running) {
            try {
                if (!n.process.waitFor(15, TimeUnit.SECONDS)) {
                    n.process.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                n.process.destroyForcibly();
            }
        }
    }


    /** A node's JVM, its output, and the lines a caller waits for. */
    public final class Node {
        private final NodeSpec spec;
        private final Process process;
        private final int port;
        private final List<String> lines = new CopyOnWriteArrayList<>();
        private final List<Map.Entry<Pattern, CompletableFuture<String>>> watches = new CopyOnWriteArrayList<>();

        private Node(NodeSpec spec, Process process, int port) throws IOException {
            this.spec = spec;
            this.process = process;
            this.port = port;
            PrintWriter log = new PrintWriter(Files.newBufferedWriter(out.resolve("nodes").resolve(spec.name() + ".log"),
                    StandardCharsets.UTF_8), true);
            Thread pump = new Thread(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8)); log) {
                    for (String line = in.readLine(); line != null; line = in.readLine()) {
                        log.println(line);
                        lines.add(line);
                        echo.accept("[" + spec.name() + "] " + line);
                        String seen = line;
                        watches.stream().filter(w -> w.getKey().matcher(seen).find())
                                .forEach(w -> w.getValue().complete(seen));
                    }
                } catch (IOException e) {
                    echo.accept("[" + spec.name() + "] output lost: " + e);
                }
            }, "local-cluster-" + spec.name());
            pump.setDaemon(true);
            pump.start();
        }

        public NodeSpec spec() {
            return spec;
        }

        public int port() {
            return port;
        }

        public long pid() {
            return process.pid();
        }

        /** The first output line (so far or to come) in which {@code pattern} is found. */
        public CompletableFuture<String> line(Pattern pattern) {
            CompletableFuture<String> found = new CompletableFuture<>();
            watches.add(Map.entry(pattern, found));
            lines.stream().filter(l -> pattern.matcher(l).find()).findFirst().ifPresent(found::complete);
            return found;
        }

        public List<String> output() {
            return List.copyOf(lines);
        }

        /** SIGKILL: the JVM dies at once, as a machine that loses power. */
        public void kill() {
            process.destroyForcibly();
            try {
                process.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        public boolean alive() {
            return process.isAlive();
        }

        /** The exit code, or empty if the node is still running after {@code timeout}. */
        public OptionalInt await(Duration timeout) throws InterruptedException {
            return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS) ? OptionalInt.of(process.exitValue())
                    : OptionalInt.empty();
        }
    }
}
