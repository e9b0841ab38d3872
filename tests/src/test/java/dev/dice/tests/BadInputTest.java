package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.dice.cli.Dice;
import dev.dice.ops.DiceMetrics;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The README's promise made executable: bad input stops at start-up, in seconds, with exit code 2 and one line per
 * problem naming the key, file and line; a fault of the environment with exit code 1 and one line; never a stack
 * trace; and a refused start writes nothing into the run directory (so the fixed command is not refused as "a
 * different configuration").
 */
class BadInputTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path dir;
    /** A random model in a release's layout (zephyr: two weight files and an index), for the model's cases. */
    static Path release;
    private static final AtomicInteger RUNS = new AtomicInteger();

    @BeforeAll
    static void files() throws IOException {
        write("typo.conf", "dice {\n  rounds { kk = 4 }\n}\n");
        write("section.conf", "dice {\n  seed = 1\n  bogus-section { }\n}\n");
        write("preset-typo.conf", "dice.presets.smoke {\n  sft { stepz = 3 }\n}\n");
        write("type.conf", "dice {\n  rounds.k = many\n}\n");
        write("two.conf", "dice {\n  rounds { gama = 0.5 }\n  rounds.gamma = 1.5\n}\n");
        write("broken.conf", "dice {\n  rounds {\n    k = \n");
        write("postgres.conf", "dice.journal { kind = postgres, url = \"jdbc:postgresql://127.0.0.1:1/dice\","
                + " user = dice, password = x }\n");
        write("batch0.conf", "dice.dpo.batch = 0\n");
        write("pg-typo.conf", "dice.journal { kind = postgress }\n");
        write("ok.jsonl", lines(8, i -> "{\"prompt\": \"say " + i + "\"}"));
        write("empty.jsonl", "");
        write("blank.jsonl", "\n\n  \n");
        write("two.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n");
        write("malformed.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n{\"prompt\": \"c\"\n");
        write("array.jsonl", "[1, 2]\n");
        write("nofield.jsonl", "{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n");
        write("number.jsonl", "{\"prompt\": 3}\n");
        write("messages.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
        write("long.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"" + "x".repeat(400) + "\"}\n" + lines(6, i -> "{\"prompt\": \"b" + i + "\"}"));
        write("dup.jsonl", lines(6, i -> "{\"id\": \"" + (i == 5 ? "q1" : "q" + i) + "\", \"prompt\": \"p" + i + "\"}"));
        Files.write(dir.resolve("latin1.jsonl"), concat("{\"prompt\": \"ok\"}\n{\"prompt\": \"caf".getBytes(StandardCharsets.UTF_8),
                new byte[] {(byte) 0xE9}, "\"}\n".getBytes(StandardCharsets.UTF_8)));
        write("pairs-same.jsonl", "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                + "{\"prompt\": \"q\", \"chosen\": \"same\", \"rejected\": \"same\"}\n");
        write("pairs-missing.jsonl", "{\"prompt\": \"q\", \"chosen\": \"a\"}\n");
        write("pairs-malformed.jsonl", "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n{oops\n");
        write("pairs-empty.jsonl", "");
        write("pairs-chat.jsonl", "{\"prompt\": \"q\", \"chosen\": [{\"role\": \"user\", \"content\": \"q\"}], "
                + "\"rejected\": \"b\"}\n");
        Files.write(dir.resolve("pairs-latin1.jsonl"), concat("{\"prompt\": \"q\", \"chosen\": \"\u00e9\", ".getBytes(
                StandardCharsets.ISO_8859_1), "\"rejected\": \"b\"}\n".getBytes(StandardCharsets.UTF_8)));
        write("pairs-long.jsonl", "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"
                + "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"" + "y".repeat(200) + "\"}\n");
        write("huge.conf", "dice.model { hidden-size = 65536, intermediate-size = 262144, layers = 200 }\n");
        write("a-file", "not a directory\n");
        Files.createDirectories(dir.resolve("model-empty"));
        Files.createDirectories(dir.resolve("model-noweights"));
        write("model-noweights/config.json", "{\"architectures\": [\"LlamaForCausalLM\"]}\n");
        release = ReleaseCheckpointsTest.randomModel(dir, "zephyr-7b-beta", "zephyr", "");
        variant("model-shape", c -> c.put("intermediate_size", 96));
        variant("model-layers", c -> c.put("num_hidden_layers", 3));
        variant("model-vocab", c -> c.put("vocab_size", 1000));
    }

    /** The random zephyr release with its config.json edited. */
    private static void variant(String name, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        Path model = copy(release, dir.resolve(name));
        ObjectNode config = (ObjectNode) JSON.readTree(model.resolve("config.json").toFile());
        edit.accept(config);
        Files.write(model.resolve("config.json"), JSON.writeValueAsBytes(config));
    }

    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.filter(Files::isRegularFile).toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
        return to;
    }

    static Stream<Arguments> refused() {
        List<Arguments> cases = new ArrayList<>();
        // configuration and command line
        cases.add(refused("unknown key, nearest named", "--config {typo.conf}", "typo.conf:2", "dice.rounds.kk",
                "did you mean dice.rounds.k?"));
        cases.add(refused("unknown empty section", "--config {section.conf}", "section.conf:3", "dice.bogus-section"));
        cases.add(refused("unknown key inside a preset", "--config {preset-typo.conf}", "preset-typo.conf:2",
                "dice.sft.stepz", "dice.sft.steps"));
        cases.add(refused("wrong type", "--config {type.conf}", "type.conf", "rounds.k"));
        cases.add(refused("every problem at once", "--config {two.conf}", "dice.rounds.gama", "dice.rounds.gamma"));
        cases.add(refused("HOCON syntax error", "--config {broken.conf}", "--config", "broken.conf"));
        cases.add(refused("missing --config file", "--config {missing.conf}", "--config", "missing.conf"));
        cases.add(refused("unknown journal kind", "--config {pg-typo.conf}", "dice.journal.kind", "postgress"));
        cases.add(refused("a batch of 0 is the stage's, not the trainers'", "--config {batch0.conf}", "dice.dpo.batch",
                ">= 1"));
        cases.add(refused("gamma 1", "--gamma 1.0", "dice.rounds.gamma (--gamma)", "[0, 1)"));
        cases.add(refused("k 1", "--k 1", "dice.rounds.k (--k)"));
        cases.add(refused("alpha Infinity", "--alpha Infinity", "dice.rounds.alpha (--alpha)", "finite"));
        cases.add(refused("alpha NaN", "--alpha NaN", "dice.rounds.alpha (--alpha)"));
        cases.add(refused("alpha negative", "--alpha -1", "dice.rounds.alpha (--alpha)", ">= 0"));
        cases.add(refused("alpha text", "--alpha lots", "dice.rounds.alpha (--alpha)", "lots"));
        cases.add(refused("rounds negative", "--rounds -1", "dice.rounds.count (--rounds)"));
        cases.add(refused("unknown preset", "--preset huge", "--preset", "huge"));
        cases.add(refused("model without tokenizer", "--model {model-empty}", "--model and --tokenizer"));
        cases.add(refused("negative trainers", "--trainers -1", "dice.cluster.trainers (--trainers)"));
        // devices
        cases.add(refused("cuda:0 on a CPU machine", "--device cuda:0", "dice.device (--device)",
                "cuda:0 is not available", "no CUDA device"));
        cases.add(refused("gpu0 spelling", "--device gpu0", "dice.device (--device)", "not available"));
        cases.add(refused("tpu", "--device tpu", "dice.device (--device)", "expected cpu or cuda:N", "tpu"));
        cases.add(refused("cuda:x", "--device cuda:x", "dice.device (--device)", "cuda:x"));
        // ports
        cases.add(refused("port above range", "--metrics-port 70000", "dice.metrics.port (--metrics-port)", "70000"));
        cases.add(refused("negative port", "--metrics-port -5", "dice.metrics.port (--metrics-port)", "-5"));
        // prompts
        cases.add(refused("prompts missing", "--prompts {nope.jsonl}", "dice.data.prompts (--prompts)", "no such file"));
        cases.add(refused("prompts a directory", "--prompts {model-empty}", "dice.data.prompts (--prompts)",
                "is a directory"));
        cases.add(refused("prompts not UTF-8", "--prompts {latin1.jsonl}", "latin1.jsonl:2", "not UTF-8", "0xE9"));
        cases.add(refused("prompts malformed JSON", "--prompts {malformed.jsonl}", "malformed.jsonl:3", "malformed JSON"));
        cases.add(refused("prompts line not an object", "--prompts {array.jsonl}", "array.jsonl:1", "JSON object"));
        cases.add(refused("prompts field missing", "--prompts {nofield.jsonl}", "nofield.jsonl:2", "'prompt'"));
        cases.add(refused("prompt not a string", "--prompts {number.jsonl}", "number.jsonl:1", "'prompt'"));
        cases.add(refused("prompts empty", "--prompts {empty.jsonl}", "empty.jsonl", "0 prompt(s)"));
        cases.add(refused("prompts blank lines only", "--prompts {blank.jsonl}", "blank.jsonl", "0 prompt(s)"));
        cases.add(refused("too few prompts", "--prompts {two.jsonl}", "two.jsonl", "2 prompt(s)", "at least 5"));
        cases.add(refused("prompt longer than the context", "--prompts {long.jsonl}", "long.jsonl:2", "tokens",
                "context is 96"));
        cases.add(refused("prompt ids repeated", "--prompts {dup.jsonl}", "dup.jsonl:5", "\"q1\"", "dup.jsonl:1"));
        cases.add(refused("chat messages without a template", "--prompts {messages.jsonl}", "messages.jsonl:1",
                "chat template"));
        // offline pairs
        cases.add(refused("pairs missing", "--offline-pairs {nope.jsonl}", "dice.data.offline-pairs (--offline-pairs)",
                "no such file"));
        cases.add(refused("chosen == rejected", "--offline-pairs {pairs-same.jsonl}", "pairs-same.jsonl:2",
                "same response"));
        cases.add(refused("pairs field missing", "--offline-pairs {pairs-missing.jsonl}", "pairs-missing.jsonl:1",
                "'rejected'"));
        cases.add(refused("pairs malformed", "--offline-pairs {pairs-malformed.jsonl}", "pairs-malformed.jsonl:2",
                "malformed JSON"));
        cases.add(refused("pairs empty", "--offline-pairs {pairs-empty.jsonl}", "pairs-empty.jsonl", "no offline pairs"));
        cases.add(refused("pairs not UTF-8", "--offline-pairs {pairs-latin1.jsonl}", "pairs-latin1.jsonl:1", "not UTF-8"));
        cases.add(refused("chat pair without assistant message", "--offline-pairs {pairs-chat.jsonl}",
                "pairs-chat.jsonl:1", "'chosen'"));
        cases.add(refused("pair longer than the context", "--offline-pairs {pairs-long.jsonl}", "pairs-long.jsonl:2",
                "'rejected' response has", "context is 96"));
        cases.add(refused("prompts and pairs both reported", "--prompts {two.jsonl} --offline-pairs {pairs-same.jsonl}",
                "two.jsonl", "pairs-same.jsonl:2"));
        // model
        cases.add(refused("model dir missing", "--model {no-model} --tokenizer {no-model}", "dice.model.dir (--model)",
                "no such directory"));
        cases.add(refused("model dir without config.json", "--model {model-empty} --tokenizer {model-empty}",
                "dice.model.dir (--model)", "config.json"));
        cases.add(refused("model dir is a file", "--model {a-file} --tokenizer {a-file}", "dice.model.dir (--model)",
                "is a file"));
        cases.add(refused("model without weights", "--model {model-noweights} --tokenizer {model-noweights}",
                "dice.model.dir (--model)", "safetensors"));
        cases.add(refused("a tensor's shape against config.json", "--model {model-shape} --tokenizer {model-shape}",
                "model-shape/model-0000", ".mlp.", "has shape", "expected", "from the config"));
        cases.add(refused("a tensor config.json wants is missing", "--model {model-layers} --tokenizer {model-layers}",
                "model-layers/model.safetensors.index.json", "missing tensor 'model.layers.2."));
        cases.add(refused("tokenizer larger than the embedding", "--model {model-vocab} --tokenizer {model-vocab}",
                "dice.model.tokenizer (--tokenizer)", "tokenizer vocabulary (32000 tokens)", "vocab_size (1000)"));
        // output directory
        cases.add(refused("out below a file", "--out {a-file}/run", "dice.out (--out)", "is a file"));
        cases.add(refused("out is a file", "--out {a-file}", "dice.out (--out)", "is a file"));
        // other commands
        cases.add(Arguments.of("node: unknown role", List.of("node", "--roles", "generator,bogus"), 2,
                List.of("--roles", "bogus")));
        cases.add(Arguments.of("node: device refused", List.of("node", "--roles", "generator", "--device", "tpu",
                "--out", "{node-out}"), 2, List.of("dice.device (--device)")));
        cases.add(Arguments.of("local-cluster: too few nodes", List.of("local-cluster", "--nodes", "2"), 2,
                List.of("--nodes")));
        // a fault of the environment: exit code 1, one line
        cases.add(Arguments.of("journal database unreachable", List.of("run", "--preset", "smoke", "--config",
                "{postgres.conf}"), 1, List.of("dice.journal.url", "cannot reach the journal database",
                "127.0.0.1:1")));
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource
    void refused(String name, List<String> args, int code, List<String> expected) {
        Path out = dir.resolve("out-" + RUNS.incrementAndGet());
        List<String> line = new ArrayList<>(args.stream().map(BadInputTest::paths).toList());
        if (line.get(0).equals("run") && !line.contains("--out")) {
            line.addAll(List.of("--out", out.toString()));
        }
        assertRefused(code, expected, line, out);
    }

    @Test
    void busyMetricsPortIsRefused() throws IOException {
        Assumptions.assumeTrue(DiceMetrics.get().serverPort() < 0, "this JVM already serves metrics");
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Path out = dir.resolve("out-port");
            assertRefused(2, List.of("dice.metrics.port (--metrics-port)", "cannot listen", "" + busy.getLocalPort()),
                    List.of("run", "--preset", "smoke", "--out", out.toString(), "--metrics-port", "" + busy.getLocalPort()),
                    out);
        }
    }

    @Test
    void aRunDirectoryInUseIsRefusedNamingItsHolder() throws IOException {
        Path out = Files.createDirectories(dir.resolve("out-locked"));
        Path lockFile = out.resolve("run.lock");
        Files.writeString(lockFile, "pid 4242 on elsewhere, since 2026-01-01T00:00:00Z\n");
        try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.WRITE);
                FileLock held = channel.lock()) {
            assertRefused(2, List.of(out.toString(), "in use by another run", "pid 4242 on elsewhere"),
                    List.of("run", "--preset", "smoke", "--out", out.toString()), out);
        }
    }

    @Test
    void aCorruptStageRecordSaysWhatToDelete() throws IOException {
        Path out = Files.createDirectories(dir.resolve("out-corrupt"));
        Path stage = Files.createDirectories(out.resolve("dpo"));
        Files.writeString(stage.resolve("stage.json"), "{ cut off");
        assertRefused(2, List.of(stage.resolve("stage.json") + ": unreadable", "delete " + stage,
                "run the same command again"), List.of("run", "--preset", "smoke", "--out", out.toString()), out);
    }

    @Test
    void aTruncatedCheckpointOfAResumedRunSaysWhatToDelete() throws IOException {
        Path out = dir.resolve("out-truncated");
        Path model = copy(release, out.resolve("sft/model"));
        Path weights = model.resolve("model-00002-of-00002.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        Files.write(weights, Arrays.copyOf(bytes, bytes.length / 2));
        assertRefused(1, List.of(weights + ": truncated safetensors file", "delete " + out.resolve("sft"),
                "run the same command again"), List.of("run", "--preset", "smoke", "--out", out.toString()), out);
        assertEquals(bytes.length / 2, Files.size(weights), "the refused run keeps what it found");
    }

    @Test
    void aCheckpointWithoutItsWeightsSaysWhatToDelete() throws IOException {
        Path out = dir.resolve("out-noweights");
        Path model = Files.createDirectories(out.resolve("dpo/model"));
        Files.copy(release.resolve("config.json"), model.resolve("config.json"));
        assertRefused(1, List.of(model + ": no model.safetensors", "delete " + out.resolve("dpo")),
                List.of("run", "--preset", "smoke", "--out", out.toString()), out);
    }

    @Test
    void aDamagedJournalSaysWhatToDelete() throws IOException {
        Path out = dir.resolve("out-journal");
        Path journal = Files.createDirectories(out.resolve("journal"));
        byte[] garbage = new byte[16384];
        new java.util.Random(7).nextBytes(garbage);
        Files.write(journal.resolve("replay.mv.db"), garbage);
        assertRefused(1, List.of(journal.resolve("replay.mv.db") + ": the journal is damaged", "delete " + journal),
                List.of("run", "--preset", "smoke", "--out", out.toString()), out);
        assertEquals(garbage.length, Files.size(journal.resolve("replay.mv.db")), "the journal is left as it was");
    }

    @Test
    void checkpointsLargerThanTheDiskAreRefused() {
        Path out = dir.resolve("out-huge");
        assertRefused(1, List.of("dice.out (--out): " + out, "checkpoint(s) of", "TB", "free", "fewer rounds"),
                List.of("run", "--preset", "smoke", "--config", paths("{huge.conf}"), "--out", out.toString()), out);
    }

    private static void assertRefused(int code, List<String> expected, List<String> line, Path out) {
        StringWriter err = new StringWriter();
        long start = System.nanoTime();
        int exit;
        try (CapturedLogs logs = new CapturedLogs()) {
            exit = Dice.execute(new PrintWriter(err, true), line.toArray(String[]::new));
            assertFalse(logs.lines().stream().anyMatch(l -> l.startsWith("ERROR")), () -> "an error was logged: "
                    + logs.lines());
        }
        String text = err.toString();
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("%.2f s  exit %d  %s%n%s", seconds, exit, String.join(" ", line), text);
        assertEquals(code, exit, text);
        for (String wanted : expected) {
            assertTrue(text.contains(wanted), () -> "expected \"" + wanted + "\" in: " + text);
        }
        assertFalse(text.contains("\tat ") || text.contains("Exception"), () -> "a stack trace or exception: " + text);
        assertTrue(text.lines().allMatch(l -> l.startsWith("dice: ") || l.startsWith("Usage") || l.startsWith(" ")
                || l.isBlank() || l.startsWith("Unknown") || l.startsWith("Missing")), text);
        assertTrue(seconds < 30, "refused after " + seconds + " s");
        assertFalse(Files.exists(out.resolve("run-config.json")), "a refused start wrote run-config.json");
    }

    private static Arguments refused(String name, String options, String... expected) {
        List<String> args = new ArrayList<>(options.contains("--preset") ? List.of("run") : List.of("run", "--preset", "smoke"));
        args.addAll(Arrays.asList(options.split(" ")));
        return Arguments.of(name, args, 2, List.of(expected));
    }

    /** {name} stands for a file of the test directory. */
    private static String paths(String arg) {
        return arg.replaceAll("\\{([^}]+)\\}", java.util.regex.Matcher.quoteReplacement(dir.toString()) + "/$1");
    }

    private static void write(String name, String text) throws IOException {
        Files.writeString(dir.resolve(name), text);
    }

    private static String lines(int n, java.util.function.IntFunction<String> line) {
        StringBuilder b = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            b.append(line.apply(i)).append('\n');
        }
        return b.toString();
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int at = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }
}
