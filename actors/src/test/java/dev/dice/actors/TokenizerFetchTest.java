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
 * Two cluster nodes (actor systems on loopback, messages through the wire serializer): one reads the tokenizer files,
 * the other cannot and fetches them.
 */
class TokenizerFetchTest {
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
        byte[] big = new byte[TokenizerFiles.PART_BYTES * 2 + 12345]; // three parts
        new Random(1).nextBytes(big);
        Files.write(source.resolve("tokenizer.json"), big);
        Files.writeString(source.resolve("tokenizer_config.json"), "{\"eos_token\": \"</s>\"}");
        serving.spawn(TokenizerFiles.create(List.of(source.resolve("tokenizer.json"),
                source.resolve("tokenizer_config.json"))), "tokenizer-files");

        TestProbe<TokenizerFetch.Outcome> outcome = fetching.createTestProbe();
        Path into = dir.resolve("node-2").resolve("tokenizer");
        fetching.spawn(TokenizerFetch.create(into, outcome.getRef()), "tokenizer-fetch");
        assertEquals(new TokenizerFetch.Arrived(into), outcome.receiveMessage(WAIT));
        assertArrayEquals(big, Files.readAllBytes(into.resolve("tokenizer.json")));
        assertEquals("{\"eos_token\": \"</s>\"}", Files.readString(into.resolve("tokenizer_config.json")));
        try (var listed = Files.list(into)) {
            assertEquals(2, listed.count(), "no temporary files left");
        }
    }

    @Test
    void aFileThatNeverMatchesItsDigestFailsTheFetch(@TempDir Path dir) {
        serving.spawn(Behaviors.<TokenizerFiles.Command>setup(context -> {
            context.getSystem().receptionist().tell(Receptionist.register(TokenizerFiles.KEY, context.getSelf()));
            return Behaviors.receive(TokenizerFiles.Command.class).onMessage(TokenizerFiles.Ask.class, ask -> {
                ask.replyTo().tell(new TokenizerFiles.Part("tokenizer.json", 0, 1, 0, 1, "00".repeat(32),
                        BytesValue.of(ByteString.copyFromUtf8("{}"))));
                return Behaviors.same();
            }).build();
        }), "damaging-files");
        TestProbe<TokenizerFetch.Outcome> outcome = fetching.createTestProbe();
        fetching.spawn(TokenizerFetch.create(dir.resolve("tokenizer"), outcome.getRef()), "tokenizer-fetch");
        TokenizerFetch.Failed failed = assertInstanceOf(TokenizerFetch.Failed.class, outcome.receiveMessage(WAIT));
        assertTrue(failed.why().contains("tokenizer.json: SHA-256") && failed.why().contains("3 attempts"),
                failed.why());
        assertTrue(Files.notExists(dir.resolve("tokenizer").resolve("tokenizer.json")), "nothing written");
    }
}
