package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dice.cli.Dice;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run directory moved elsewhere resumes in place: the run names the files inside it relative to it (in shards,
 * the journal's events), so the moved run recovers what its journal holds, recomputes no
 * finished stage and reads nothing from where it was.
 */
class MovedRunTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> STAGES = List.of("sft", "dpo", "round1");

    @Test
    void aMovedRunResumesWhereItIsNow(@TempDir Path dir) throws Exception {
        Path config = Path.of(MovedRunTest.class.getResource("/tiny-cluster.conf").toURI());
        Path before = dir.resolve("before/run");
        assertEquals(0, run(config, before), "the first run");
        JsonNode evaluated = JSON.readTree(before.resolve("round1/stage.json").toFile());
        List<FileTime> trained = modelTimes(before);
        String oldPlace = before.toAbsolutePath().toString();
        assertEquals(List.of(), holding(before, oldPlace), "files of the run that name where it is");

        // As if the run had been stopped while round1 was evaluated: its model is written, its row is not.
        Files.delete(before.resolve("round1/stage.json"));
        Path after = Files.createDirectories(dir.resolve("after")).resolve("run");
        Files.move(before, after); // nothing is left at the old place to read from
        assertFalse(Files.exists(before));

        List<String> logs;
        try (CapturedLogs captured = new CapturedLogs()) {
            assertEquals(0, run(config, after), "the moved run");
            logs = captured.lines();
        }
        assertEquals(trained, modelTimes(after), "no finished model is trained again");
        assertTrue(logs.stream().anyMatch(l -> l.contains("eval-round1: ") && l.contains("recovered from the journal")),
                "round1's evaluation comes back from the moved journal: " + logs);
        JsonNode again = JSON.readTree(after.resolve("round1/stage.json").toFile());
        for (String field : List.of("win_rate", "lc_win_rate", "quality", "mean_length", "alpha", "reward_agreement",
                "pair_accuracy")) {
            assertEquals(evaluated.get(field), again.get(field), field);
        }
        assertEquals(List.of(), holding(after, oldPlace), "files of the moved run that name its old place");
        assertFalse(logs.stream().anyMatch(l -> l.contains(oldPlace)), "a log line names the old place");
    }

    private static int run(Path config, Path out) {
        StringWriter err = new StringWriter();
        int code = Dice.execute(new PrintWriter(err, true), "run", "--preset", "smoke", "--config", config.toString(),
                "--seed", "5", "--out", out.toString());
        System.err.print(err);
        return code;
    }

    private static List<FileTime> modelTimes(Path run) throws Exception {
        List<FileTime> times = new ArrayList<>();
        for (String stage : STAGES) {
            times.add(Files.getLastModifiedTime(run.resolve(stage).resolve("model/model.safetensors")));
        }
        return times;
    }

    /**
     * The files of the run (the journal's database included) whose bytes hold {@code text}; the weights aside, and
     * report.html, a page for people that every run writes anew.
     */
    private static List<String> holding(Path run, String text) throws Exception {
        byte[] wanted = text.getBytes(StandardCharsets.UTF_8);
        List<String> found = new ArrayList<>();
        try (Stream<Path> files = Files.walk(run)) {
            for (Path f : files.filter(Files::isRegularFile)
                    .filter(f -> !f.toString().endsWith(".safetensors") && !f.endsWith("report.html")).toList()) {
                if (indexOf(Files.readAllBytes(f), wanted) >= 0) {
                    found.add(run.relativize(f).toString());
                }
            }
        }
        return found;
    }

    private static int indexOf(byte[] bytes, byte[] wanted) {
        outer:
        for (int i = 0; i + wanted.length <= bytes.length; i++) {
            for (int j = 0; j < wanted.length; j++) {
                if (bytes[i + j] != wanted[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
