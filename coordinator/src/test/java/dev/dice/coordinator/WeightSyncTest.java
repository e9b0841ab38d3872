package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.Nodes;
import dev.dice.actors.PublishedWeights;
import dev.dice.actors.ScoringActor;
import dev.dice.actors.TrainerActor;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Generator;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.ScoredShard;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * After a DPO stage, generators and scorers take the weights rank 0 published (over gRPC, verified), hold exactly the
 * checkpoint's bits, report the version, and serve only that version from then on.
 */
class WeightSyncTest {
    private static final LlamaConfig TINY = new LlamaConfig(259, 32, 64, 1, 2, 2, 48, 1e-5, 10000.0, true, 256, 257);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final ByteTokenizer BYTES = new ByteTokenizer();

    static ActorTestKit kit;
    static NDManager root;
    @TempDir
    static Path dir;
    static Path init;
    static TrainerActor.Trained trained;
    static String checkpointSha;

    @BeforeAll
    static void trainOneStage() {
        kit = ActorTestKit.create("sync", Nodes.config(ConfigFactory.parseString(
                "pekko.persistence.journal.plugin = \"\"\npekko.persistence.snapshot-store.plugin = \"\"\n"
                + "pekko.actor.serialize-messages = on\n"
                + "pekko.actor.testkit.typed.default-timeout = 30s\npekko.actor.testkit.typed.single-expect-default = 30s")));
        root = NDManager.newBaseManager();
        init = dir.resolve("init");
        try (Llama model = Llama.init(TINY, root.newSubManager(), 1)) {
            Checkpoint.saveModel(init, TINY, model.parameters());
        }
        List<PreferencePair> pairs = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            pairs.add(PreferencePair.newBuilder().setPromptId("p" + i).setPrompt("upper: cat " + i).setChosen("CAT " + i)
                    .setRejected("cat " + i).setRefLogpChosen(-20).setRefLogpRejected(-18).build());
        }
        ActorRef<TrainerActor.Command> trainer = kit.spawn(TrainerActor.create(root, BYTES), "trainer");
        TestProbe<TrainingJob.Done> done = kit.createTestProbe();
        kit.spawn(TrainingJob.create(new TrainingJob.Task("dpo", init, pairs, new Training.Settings(3, 4, 1e-3, 1, 1.0,
                0.5, 3), 1, dir.resolve("dpo")), List.of(trainer), new TrainingJob.RingSettings(WAIT, 2),
                kit.<TrainerActor.Reply>createTestProbe().getRef(), done.getRef()));
        trained = done.receiveMessage(WAIT).trained();
        try (Policy saved = Policy.load(trained.dir(), BYTES, root, 1)) {
            checkpointSha = saved.weightsSha256();
        }
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
        root.close();
    }

    @Test
    void aGeneratorSwitchesToThePublishedWeightsBitForBit() {
        ActorRef<GenerationActor.Command> generator = generator();
        TestProbe<GenerationActor.Loaded> loaded = kit.createTestProbe();
        generator.tell(new GenerationActor.Load(init, 0, loaded.getRef()));
        String before = loaded.receiveMessage(WAIT).sha256();

        generator.tell(new GenerationActor.Sync(trained.weights(), trained.dir(), WAIT, loaded.getRef()));
        GenerationActor.Loaded now = loaded.receiveMessage(WAIT);
        assertEquals(1, now.version());
        assertEquals(trained.weights().sha256(), now.sha256(), "holds what rank 0 published");
        assertEquals(checkpointSha, now.sha256(), "bit-exact with the checkpoint on disk");
        assertNotEquals(before, now.sha256(), "training changed the weights");
        assertEquals(1.0, DiceMetrics.get().weightVersion.get());

        TestProbe<GenerationActor.Reply> replies = kit.createTestProbe();
        generator.tell(new GenerationActor.Generate(shard(1), replies.getRef()));
        assertInstanceOf(GenerationActor.Generated.class, replies.receiveMessage(WAIT));
        generator.tell(new GenerationActor.Generate(shard(0), replies.getRef()));
        GenerationActor.Refused refused = assertInstanceOf(GenerationActor.Refused.class, replies.receiveMessage(WAIT));
        assertTrue(refused.reason().contains("holds v1"), refused.reason());

        generator.tell(new GenerationActor.Sync(trained.weights(), trained.dir(), WAIT, loaded.getRef()));
        assertEquals(now, loaded.receiveMessage(WAIT), "a version already held is kept, not fetched again");
    }

    @Test
    void aScorerKeepsItsPolicyAsTheNewReference() {
        ActorRef<ScoringActor.Command> synced = scorer();
        TestProbe<ScoringActor.Loaded> loaded = kit.createTestProbe();
        synced.tell(new ScoringActor.Load(init, init, 0, loaded.getRef()));
        loaded.receiveMessage(WAIT);
        // The reference must come from the policy held (v0), so the reference directory is never read.
        synced.tell(new ScoringActor.Sync(trained.weights(), trained.dir(), dir.resolve("no-such-model"), WAIT,
                loaded.getRef()));
        assertEquals(new ScoringActor.Loaded(1, checkpointSha), loaded.receiveMessage(WAIT));

        ActorRef<ScoringActor.Command> fromDisk = scorer();
        fromDisk.tell(new ScoringActor.Load(trained.dir(), init, 1, loaded.getRef()));
        loaded.receiveMessage(WAIT);
        assertEquals(score(fromDisk), score(synced), "same log-probs under π1 and π0 as a scorer that read both from disk");
    }

    @Test
    void anUnreachablePublisherFallsBackToTheCheckpoint() {
        PublishedWeights nowhere = new PublishedWeights("127.0.0.1:1", 1, trained.weights().sha256(), TINY);
        TestProbe<GenerationActor.Loaded> loaded = kit.createTestProbe();
        generator().tell(new GenerationActor.Sync(nowhere, trained.dir(), Duration.ofSeconds(5), loaded.getRef()));
        assertEquals(new GenerationActor.Loaded(1, checkpointSha), loaded.receiveMessage(WAIT));
    }

    private static ActorRef<GenerationActor.Command> generator() {
        return kit.spawn(GenerationActor.create(root, BYTES, new ShardGeneration(new Generator.Params(1.0, 1.0, 6), 16, 1)));
    }

    private static ActorRef<ScoringActor.Command> scorer() {
        return kit.spawn(ScoringActor.create(root, BYTES, new Scoring(16)));
    }

    private static PromptShard shard(long version) {
        return PromptShard.newBuilder().setJob("t").setShard(0).setPolicyVersion(version).setSamplesPerPrompt(2).setSeed(4)
                .addPrompts(Prompt.newBuilder().setId("p").setText("upper: cat")).build();
    }

    private static ScoredShard score(ActorRef<ScoringActor.Command> scorer) {
        GeneratedShard generated = GeneratedShard.newBuilder().setJob("t").setPolicyVersion(1)
                .addPrompts(Prompt.newBuilder().setId("p").setText("upper: cat"))
                .addResponses(dev.dice.proto.Response.newBuilder().setPromptId("p").setText("CAT").setEndedOnEos(true))
                .addResponses(dev.dice.proto.Response.newBuilder().setPromptId("p").setSample(1).setText("cat"))
                .build();
        TestProbe<ScoringActor.Scored> scored = kit.createTestProbe();
        scorer.tell(new ScoringActor.Score(generated, scored.getRef()));
        return scored.receiveMessage(WAIT).shard();
    }
}
