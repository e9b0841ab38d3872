package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.Nodes;
import dev.dice.actors.ScoringActor;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Generator;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A worker that dies mid-shard loses nothing: its work goes to the others, each shard is answered once. */
class ShardJobTest {
    static ActorTestKit kit;
    static NDManager root;
    @TempDir
    static Path model;
    static ActorRef<GenerationActor.Command> generator;
    static ActorRef<ScoringActor.Command> scorer;

    @BeforeAll
    static void start() {
        kit = ActorTestKit.create("jobs", Nodes.config(ConfigFactory.parseString(
                "pekko.persistence.journal.plugin = \"\"\npekko.persistence.snapshot-store.plugin = \"\"\n"
                + "pekko.actor.testkit.typed.default-timeout = 30s\npekko.actor.testkit.typed.single-expect-default = 30s")));
        root = NDManager.newBaseManager();
        LlamaConfig config = new LlamaConfig(259, 32, 64, 1, 2, 2, 48, 1e-5, 10000.0, true, 256, 257);
        try (Llama tiny = Llama.init(config, root.newSubManager(), 1)) {
            Checkpoint.saveModel(model, config, tiny.parameters());
        }
        ByteTokenizer bytes = new ByteTokenizer();
        generator = kit.spawn(GenerationActor.create(root, bytes,
                new ShardGeneration(new Generator.Params(1.0, 1.0, 8), 64, 1)));
        scorer = kit.spawn(ScoringActor.create(root, bytes, new Scoring(64)));
        TestProbe<GenerationActor.Loaded> loaded = kit.createTestProbe();
        generator.tell(new GenerationActor.Load(model, 0, loaded.getRef()));
        loaded.receiveMessage(java.time.Duration.ofSeconds(60));
        TestProbe<ScoringActor.Loaded> scorerLoaded = kit.createTestProbe();
        scorer.tell(new ScoringActor.Load(model, model, 0, scorerLoaded.getRef()));
        scorerLoaded.receiveMessage(java.time.Duration.ofSeconds(60));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
        root.close();
    }

    private static List<PromptShard> shards(int n) {
        List<PromptShard> shards = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            shards.add(PromptShard.newBuilder().setJob("test").setShard(s).setSamplesPerPrompt(2).setSeed(9)
                    .addPrompts(Prompt.newBuilder().setId("p" + s).setText("upper: cat")).build());
        }
        return shards;
    }

    @Test
    void aGeneratorThatDiesMidShardLosesNothing() {
        // Crashes on its first shard without answering, like a node killed mid-generation.
        ActorRef<GenerationActor.Command> crashing = kit.spawn(Behaviors.receive(GenerationActor.Command.class)
                .onMessage(GenerationActor.Generate.class, g -> Behaviors.stopped()).build());
        TestProbe<ShardJob.Done> done = kit.createTestProbe();
        kit.spawn(ShardJob.create("test", shards(6), List.of(crashing, generator), List.of(scorer), done.getRef()));
        ShardJob.Done result = done.receiveMessage(java.time.Duration.ofSeconds(60));
        assertEquals(6, result.generated().size());
        assertEquals(6, result.scored().size());
        assertEquals(1, result.reassigned(), "the crashed generator's shard went back to the queue");
        for (int s = 0; s < 6; s++) {
            assertEquals(s, result.generated().get(s).getShard());
            assertEquals(2, result.scored().get(s).getResponsesCount());
        }
    }

    @Test
    void aScorerThatDiesHandsItsShardsToAnother() {
        ActorRef<ScoringActor.Command> crashing = kit.spawn(Behaviors.receive(ScoringActor.Command.class)
                .onMessage(ScoringActor.Score.class, g -> Behaviors.stopped()).build());
        TestProbe<ShardJob.Done> done = kit.createTestProbe();
        kit.spawn(ShardJob.create("test", shards(4), List.of(generator), List.of(crashing, scorer), done.getRef()));
        ShardJob.Done result = done.receiveMessage(java.time.Duration.ofSeconds(60));
        assertEquals(4, result.scored().size());
        List<Integer> ids = result.scored().stream().map(s -> s.getShard()).toList();
        assertEquals(List.of(0, 1, 2, 3), ids);
        assertEquals(0, result.duplicatesDropped());
        GeneratedShard first = result.generated().get(0);
        assertEquals(2, first.getResponsesCount());
    }
}
