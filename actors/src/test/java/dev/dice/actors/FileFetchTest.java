package dev.dice.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.BytesValue;
import com.google.protobuf.ByteString;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two cluster nodes (actor systems on loopback, messages through the wire serializer): one serves files, the other
 * fetches what it lacks.
 */
class FileFetchTest {
    private static final Duration WAIT = Duration.ofSeconds(60);

    private ActorTestKit serving;
    private ActorTestKit fetching;

    @BeforeEach
    void twoNodes() {
        serving = node();
        fetching = node();
        Cluster.get(serving.system()).manager().tell(Join.create(Cluster.get(serving.system()).selfMember().address()));
        Cluster.get(fetching.system()).manager().tell(Join.create(Cluster.get(serving.system()).selfMember().address()));
    }

    private static ActorTestKit node() {
        return ActorTestKit.create("tokenizer", Nodes.config(ConfigFactory.parseString(
                "pekko.actor.serialize-messages = on\npekko.cluster.split-brain-resolver.stable-after = 60 s")));
    }

    @AfterEach
    void stop() {
        fetching.shutdownTestKit();
        serving.shutdownTestKit();
    }

    @Test
    void filesOfSeveralPartsArriveWhole(@TempDir Path dir) throws Exception {
        Path source = Files.createDirectories(dir.resolve("source"));
        byte[] big = new byte[FileServer.PART_BYTES * 2 + 12345]; // three parts
        new Random(1).nextBytes(big);
        Files.write(source.resolve("tokenizer.json"), big);
        Files.writeString(source.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        serving.spawn(FileServer.create(FileServer.TOKENIZER, FileCatalogue.of(List.of(source.resolve("tokenizer.json"),
                source.resolve("tokenizer_config.json")))), "tokenizer-files");

        TestProbe<FileFetch.Outcome> outcome = fetching.createTestProbe();
        Path into = dir.resolve("node-2").resolve("tokenizer");
        fetching.spawn(fetch(into, outcome), "tokenizer-fetch");
        FileFetch.Arrived arrived = assertInstanceOf(FileFetch.Arrived.class, outcome.receiveMessage(WAIT));
        assertEquals(List.of("tokenizer.json", "tokenizer_config.json"),
                arrived.fetched().stream().map(FileManifest.Entry::path).toList());
        assertArrayEquals(big, Files.readAllBytes(into.resolve("tokenizer.json")));
        assertEquals(Files.getLastModifiedTime(source.resolve("tokenizer.json")).toMillis(),
                Files.getLastModifiedTime(into.resolve("tokenizer.json")).toMillis(), "the served file's time is kept");
        assertEquals("{\"eos_token\": \"</s>\"}", Files.readString(into.resolve("tokenizer_config.json")));
        try (var listed = Files.list(into)) {
            assertEquals(2, listed.count(), "no temporary files left");
        }

        // Fetched again: what is already here with the same digest is not fetched; what changed is.
        Files.writeString(source.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|im_end|>\"}");
        fetching.spawn(fetch(into, outcome), "tokenizer-fetch-again");
        arrived = assertInstanceOf(FileFetch.Arrived.class, outcome.receiveMessage(WAIT));
        assertEquals(List.of("tokenizer_config.json"), arrived.fetched().stream().map(FileManifest.Entry::path).toList());
        assertEquals("{\"eos_token\": \"<|im_end|>\"}", Files.readString(into.resolve("tokenizer_config.json")));
    }

    @Test
    void aNodeThatSharesTheServedDirectoryFetchesNothing(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("run-config.json"), "{}");
        Files.writeString(dir.resolve(FileManifest.TOKEN_FILE), "t-1\n");
        serving.spawn(FileServer.create(FileServer.RUN, new FileCatalogue() {
            @Override
            public List<String> paths() {
                return List.of("run-config.json");
            }

            @Override
            public Path resolve(String path) {
                return dir.resolve(path);
            }

            @Override
            public String token() {
                return "t-1";
            }
        }), "run-files");
        TestProbe<FileFetch.Outcome> outcome = fetching.createTestProbe();
        fetching.spawn(FileFetch.create(FileServer.RUN, dir, path -> true, "run files", outcome.getRef()), "run-fetch");
        assertEquals(new FileFetch.SameDirectory(dir), outcome.receiveMessage(WAIT));
    }

    private static org.apache.pekko.actor.typed.Behavior<FileFetch.Command> fetch(Path into,
            TestProbe<FileFetch.Outcome> outcome) {
        return FileFetch.create(FileServer.TOKENIZER, into, name -> !name.contains("/"), "tokenizer files",
                outcome.getRef());
    }

    @Test
    void aFileThatNeverMatchesItsDigestFailsTheFetch(@TempDir Path dir) throws Exception {
        String claimed = "00".repeat(32);
        serving.spawn(Behaviors.<FileServer.Command>setup(context -> {
            context.getSystem().receptionist().tell(Receptionist.register(FileServer.TOKENIZER, context.getSelf()));
            return Behaviors.receive(FileServer.Command.class)
                    .onMessage(FileServer.AskManifest.class, ask -> {
                        ask.replyTo().tell(new FileManifest(null, List.of(new FileManifest.Entry("tokenizer.json", 2,
                                claimed, 0))));
                        return Behaviors.same();
                    })
                    .onMessage(FileServer.AskPart.class, ask -> {
                        ask.replyTo().tell(new FileServer.Part("tokenizer.json", 0, 1, claimed,
                                BytesValue.of(ByteString.copyFromUtf8("{}"))));
                        return Behaviors.same();
                    }).build();
        }), "damaging-files");
        TestProbe<FileFetch.Outcome> outcome = fetching.createTestProbe();
        fetching.spawn(fetch(dir.resolve("tokenizer"), outcome), "tokenizer-fetch");
        FileFetch.Failed failed = assertInstanceOf(FileFetch.Failed.class, outcome.receiveMessage(WAIT));
        assertTrue(failed.why().contains("tokenizer.json: SHA-256") && failed.why().contains("3 attempts"),
                failed.why());
        assertTrue(Files.notExists(dir.resolve("tokenizer").resolve("tokenizer.json")), "nothing written");
        try (var left = Files.list(dir.resolve("tokenizer"))) {
            assertEquals(0, left.count(), "no temporary files left");
        }
    }
}
