package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Coordination;
import dev.dice.actors.FileServer;
import dev.dice.actors.Nodes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two cluster nodes (actor systems on loopback, messages through the wire serializer): the coordinator's serves its run
 * directory and says when it wrote into it; the other stands by with its own directory, or the same one.
 */
class RunMirrorTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private ActorTestKit coordinator;
    private ActorTestKit standby;

    @BeforeEach
    void twoNodes() {
        coordinator = node();
        standby = node();
        Cluster.get(coordinator.system()).manager().tell(Join.create(Cluster.get(coordinator.system()).selfMember()
                .address()));
        Cluster.get(standby.system()).manager().tell(Join.create(Cluster.get(coordinator.system()).selfMember()
                .address()));
    }

    private static ActorTestKit node() {
        return ActorTestKit.create("mirror", Nodes.config(ConfigFactory.parseString(
                "pekko.actor.serialize-messages = on\npekko.cluster.split-brain-resolver.stable-after = 60 s")));
    }

    @AfterEach
    void stop() {
        standby.shutdownTestKit();
        coordinator.shutdownTestKit();
    }

    @Test
    void aStandbyInItsOwnDirectoryCopiesTheRunDirectoryAndFollowsItsChanges(@TempDir Path dir) throws Exception {
        Path run = runDirectory(dir.resolve("coordinator"));
        Path own = Files.createDirectories(dir.resolve("standby"));
        Files.writeString(own.resolve("run.lock"), "pid 2");
        coordinator.spawn(FileServer.create(FileServer.RUN, new RunFiles(run)), "run-files");
        TestProbe<NodeGuardian.Command> node = standby.createTestProbe();
        ActorRef<RunMirror.Command> mirror = standby.spawn(RunMirror.create(own, false, node.getRef()), "run-mirror");

        for (String file : new String[] {"run-config.json", "sft/model/model.safetensors", "sft/model/config.json"}) {
            awaitCopied(run, own, file, () -> {});
            assertEquals(Files.getLastModifiedTime(run.resolve(file)).toMillis(),
                    Files.getLastModifiedTime(own.resolve(file)).toMillis(), file + " keeps the served file's time");
        }
        assertEquals("pid 2", Files.readString(own.resolve("run.lock")), "the standby's lock is its own");
        assertFalse(Files.exists(own.resolve("journal")), "the H2 journal is not copied");

        // The coordinator finishes the stage and says so: the standby copies what changed.
        ActorRef<Topic.Command<Coordination.RunFilesChanged>> changes = coordinator.spawn(
                Topic.create(Coordination.RunFilesChanged.class, Coordination.RUN_FILES_TOPIC), "run-files-topic");
        Files.writeString(run.resolve("sft/stage.json"), "{\"name\": \"sft\"}");
        Files.writeString(run.resolve("run-config.json"), "{\"seed\": 2}");
        awaitCopied(run, own, "sft/stage.json", () -> changes.tell(Topic.publish(
                new Coordination.RunFilesChanged("sft/stage.json"))));
        awaitCopied(run, own, "run-config.json", () -> {});

        mirror.tell(RunMirror.Halt.INSTANCE);
        node.expectTerminated(mirror, WAIT);
        node.expectNoMessage(Duration.ofMillis(200));
        try (var hidden = Files.walk(own)) {
            assertTrue(hidden.noneMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
        }
    }

    @Test
    void withTheH2JournalAStandbyInItsOwnDirectoryRefuses(@TempDir Path dir) throws Exception {
        Path run = runDirectory(dir.resolve("coordinator"));
        coordinator.spawn(FileServer.create(FileServer.RUN, new RunFiles(run)), "run-files");
        TestProbe<NodeGuardian.Command> node = standby.createTestProbe();
        Path own = Files.createDirectories(dir.resolve("standby"));
        standby.spawn(RunMirror.create(own, true, node.getRef()), "run-mirror");
        NodeGuardian.Refused refused = assertInstanceOf(NodeGuardian.Refused.class, node.receiveMessage(WAIT));
        assertTrue(refused.why().getMessage().startsWith("dice.journal.kind = h2: this node stands by"),
                refused.why().getMessage());
        assertFalse(refused.why().getMessage().contains("\n"), "one line");
        try (var copied = Files.list(own)) {
            assertEquals(0, copied.count(), "nothing copied before refusing");
        }
    }

    @Test
    void aStandbyThatSharesTheDirectoryCopiesNothingAndStaysOnH2(@TempDir Path dir) throws Exception {
        Path run = runDirectory(dir.resolve("shared"));
        coordinator.spawn(FileServer.create(FileServer.RUN, new RunFiles(run)), "run-files");
        TestProbe<NodeGuardian.Command> node = standby.createTestProbe();
        ActorRef<RunMirror.Command> mirror = standby.spawn(RunMirror.create(run, true, node.getRef()), "run-mirror");
        node.expectNoMessage(Duration.ofSeconds(5));
        mirror.tell(RunMirror.Halt.INSTANCE);
        node.expectTerminated(mirror, WAIT);
    }

    /** A run directory as a coordinator leaves it after SFT's training: its lock, its journal, a model of 3 parts. */
    private static Path runDirectory(Path run) throws Exception {
        Files.createDirectories(run.resolve("sft/model"));
        Files.createDirectories(run.resolve("journal"));
        Files.writeString(run.resolve("run-config.json"), "{\"seed\": 1}");
        Files.writeString(run.resolve("run.lock"), "pid 1");
        Files.writeString(run.resolve("journal/replay.mv.db"), "h2");
        byte[] weights = new byte[(1 << 21) + 777];
        new Random(3).nextBytes(weights);
        Files.write(run.resolve("sft/model/model.safetensors"), weights);
        Files.writeString(run.resolve("sft/model/config.json"), "{}");
        return run;
    }

    /** Waits until {@code file} is in {@code own} as in {@code run}, doing {@code meanwhile} between looks. */
    private static void awaitCopied(Path run, Path own, String file, Runnable meanwhile) throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!Files.exists(own.resolve(file))
                || !Arrays.equals(Files.readAllBytes(run.resolve(file)), Files.readAllBytes(own.resolve(file)))) {
            assertTrue(System.nanoTime() < deadline, file + " copied within " + WAIT);
            meanwhile.run();
            Thread.sleep(200);
        }
        assertArrayEquals(Files.readAllBytes(run.resolve(file)), Files.readAllBytes(own.resolve(file)), file);
    }
}
