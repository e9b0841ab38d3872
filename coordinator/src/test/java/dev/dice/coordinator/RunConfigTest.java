package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.gpu.BadInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RunConfigTest {

    private static RunConfig with(Map<String, Object> overrides) {
        return RunConfig.from(DiceRun.configure(ConfigFactory.parseMap(overrides), null, "default"));
    }

    private static void refused(Map<String, Object> overrides, String key) {
        BadInputException e = assertThrows(BadInputException.class, () -> with(overrides));
        assertTrue(e.getMessage().contains(key), e.getMessage());
    }

    @Test
    void modelWorkersDefaultToTwoOnACpuAndOneOnAGpu() {
        RunConfig.Cluster cluster = with(Map.of()).cluster();
        assertEquals(2, cluster.generatorsOn(false));
        assertEquals(2, cluster.scorersOn(false));
        assertEquals(1, cluster.generatorsOn(true));
        assertEquals(1, cluster.scorersOn(true));
        RunConfig.Cluster set = with(Map.of("dice.cluster.generators", 3, "dice.cluster.scorers", 1)).cluster();
        assertEquals(3, set.generatorsOn(true));
        assertEquals(1, set.scorersOn(false));
        refused(Map.of("dice.cluster.generators", -1), "dice.cluster.generators");
    }

    @Test
    void defaultsAreThePapersWhereTheyApply() {
        RunConfig c = with(Map.of());
        assertEquals(8, c.rounds().k());
        assertEquals(0.5, c.rounds().gamma());
        assertEquals(0.1, c.rounds().training().beta());
        assertEquals(2, c.rounds().count());
        assertNull(c.rounds().alpha(), "alpha = auto");
        assertEquals(0.7, c.rounds().temperature());
    }

    @Test
    void badValuesAreRefusedNamingTheKey() {
        refused(Map.of("dice.rounds.k", 1), "dice.rounds.k");
        refused(Map.of("dice.rounds.gamma", 1.0), "dice.rounds.gamma");
        refused(Map.of("dice.rounds.gamma", -0.1), "dice.rounds.gamma");
        refused(Map.of("dice.dpo.beta", 0), "dice.dpo.beta");
        refused(Map.of("dice.rounds.beta", -1), "dice.rounds.beta");
        refused(Map.of("dice.rounds.alpha", "sometimes"), "dice.rounds.alpha");
        refused(Map.of("dice.rounds.alpha", "-1"), "dice.rounds.alpha");
        refused(Map.of("dice.journal.kind", "mongo"), "dice.journal.kind");
        refused(Map.of("dice.rounds.k", "eight"), "rounds.k");
        refused(Map.of("dice.cluster.queue-store-timeout", "0s"), "dice.cluster.queue-store-timeout");
        refused(Map.of("dice.cluster.result-resend-after", "0s"), "dice.cluster.result-resend-after");
        refused(Map.of("dice.train.zero-stage", 3), "dice.train.zero-stage");
        refused(Map.of("dice.train.zero-stage", 1, "dice.cluster.fp16-gradients", true), "dice.train.zero-stage");
    }

    @Test
    void zeroStageReachesEveryTrainingStage() {
        RunConfig.Trainers trainers = with(Map.of("dice.train.zero-stage", 2)).trainers();
        assertEquals(2, trainers.zeroStage());
        assertEquals(2, with(Map.of()).dpo().settings(1, 10, trainers).zeroStage());
        assertEquals(0, with(Map.of()).trainers().zeroStage());
    }

    @Test
    void eachWaitAndTheMetricsNodeNameAreTheirOwnKeys() {
        RunConfig defaults = with(Map.of());
        assertEquals(java.time.Duration.ofSeconds(60), defaults.waits().queueStoreTimeout());
        assertEquals(java.time.Duration.ofSeconds(5), defaults.waits().resultResendAfter());
        assertEquals("", defaults.metrics().node());
        RunConfig set = with(Map.of("dice.cluster.queue-store-timeout", "90s", "dice.cluster.result-resend-after",
                "2s", "dice.metrics.node", "gen-7"));
        assertEquals(java.time.Duration.ofSeconds(90), set.waits().queueStoreTimeout());
        assertEquals(java.time.Duration.ofSeconds(2), set.waits().resultResendAfter());
        assertEquals("gen-7", set.metrics().node());
    }

    @Test
    void presetsAndFilesLayerInOrder(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("my.conf");
        Files.writeString(file, "dice { rounds { k = 6 }, sft { steps = 77 } }");
        RunConfig c = RunConfig.from(DiceRun.configure(ConfigFactory.parseMap(Map.of("dice.rounds.k", 5)), file, "smoke"));
        assertEquals(5, c.rounds().k(), "command line over file");
        assertEquals(77, c.sft().steps(), "file over preset");
        assertEquals(20, c.dpo().steps(), "preset over defaults");
        BadInputException e = assertThrows(BadInputException.class,
                () -> DiceRun.configure(ConfigFactory.empty(), null, "huge"));
        assertTrue(e.getMessage().contains("--preset"));
    }

    @Test
    void aRunDirectoryMadeWithAnotherConfigurationIsRefused(@TempDir Path dir) {
        RunDirectory run = new RunDirectory(dir.resolve("run"));
        run.claim(with(Map.of()));
        run.claim(with(Map.of("dice.rounds.count", 3))); // more rounds extend a run
        BadInputException e = assertThrows(BadInputException.class, () -> run.claim(with(Map.of("dice.sft.steps", 10))));
        assertTrue(e.getMessage().contains("dice.sft.steps: 1500 -> 10"), e.getMessage());
        assertTrue(e.getMessage().contains("run-config.json"), e.getMessage());
    }

    @Test
    void anInputEditedInPlaceIsNoticedOnResume(@TempDir Path dir) throws java.io.IOException {
        Path prompts = java.nio.file.Files.writeString(dir.resolve("prompts.jsonl"), "{\"prompt\": \"a\"}\n");
        RunDirectory run = new RunDirectory(dir.resolve("run"));
        run.claim(with(Map.of("dice.data.prompts", prompts.toString())));
        run.claim(with(Map.of("dice.data.prompts", prompts.toString()))); // the same file, unchanged: a resume
        java.nio.file.Files.writeString(prompts, "{\"prompt\": \"b\"}\n");
        BadInputException e = assertThrows(BadInputException.class,
                () -> run.claim(with(Map.of("dice.data.prompts", prompts.toString()))));
        assertTrue(e.getMessage().contains("dice.inputs.prompts: "), e.getMessage());
    }
}
