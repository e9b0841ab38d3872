package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Coordination;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.actors.ModelSource;
import dev.dice.actors.PolicyRef;
import dev.dice.actors.PublishedWeights;
import dev.dice.actors.ScoringActor;
import dev.dice.actors.ShardWorker;
import dev.dice.actors.TrainerActor;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.Sampling;
import dev.dice.proto.ScoredShard;
import dev.dice.work.Policy;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * After a DPO stage, the shards of the trained version name the weights rank 0 published: generators and scorers
 * fetch them (over gRPC, verified) instead of reading the checkpoint, hold exactly the checkpoint's bits, and every
 * result carries the version and the SHA-256 of the weights that produced it.
 */
class WeightSyncTest {
    /** How the test's generators sample. */
    private static final Sampling SAMPLING = Sampling.newBuilder().setTemperature(1.0).setTopP(1.0).setMaxNewTokens(6)
            .setMinResponseChars(1).build();
    private static final LlamaConfig TINY = new LlamaConfig(259, 32, 64, 1, 2, 2, 48, 1e-5, 10000.0, true, 256, 257);
    private static final Duration WAIT = Duration.ofSeconds(60);
    private static final ByteTokenizer BYTES = new ByteTokenizer();
    /** dice.cluster.queue-store-timeout and result-resend-after as reference.conf sets them. */
    private static final Duration STORE_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration RESEND_AFTER = Duration.ofSeconds(5);

    static ActorTestKit kit;
    static NDManager root;
    @TempDir
    static Path dir;
    static Path init;
    static TrainerActor.Trained trained;
    static String checkpointSha;
    /** Stands in for the coordinator: routes every worker's result to the job the test runs. */
    static final AtomicReference<ActorRef<ShardJob.Command>> running = new AtomicReference<>();

    @BeforeAll
    static void trainOneStage() {
        Journal journal = Journal.h2(dir);
        journal.createSchema();
        kit = ActorTestKit.create("sync", Nodes.config(journal.pekkoConfig().withFallback(ConfigFactory.parseString(
                "pekko.actor.serialize-messages = on\n"
                + "pekko.actor.testkit.typed.default-timeout = 30s\npekko.actor.testkit.typed.single-expect-default = 30s"))));
        Cluster cluster = Cluster.get(kit.system());
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
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
        kit.spawn(TrainingJob.create(new TrainingJob.Task("dpo", ModelSource.onDisk(0, init), pairs,
                new Training.Settings(3, 4, 1e-3, 1, 1.0, 0.5, 3), 1, dir.resolve("dpo"), false), List.of(trainer), new TrainingJob.RingSettings(WAIT, 2, false, true),
                kit.<TrainerActor.Reply>createTestProbe().getRef(), done.getRef()));
        trained = done.receiveMessage(WAIT).trained();
        try (Policy saved = Policy.load(trained.dir(), BYTES, root, 1)) {
            checkpointSha = saved.weightsSha256();
        }
        ActorRef<Coordination.Command> router = kit.spawn(Behaviors.receive(Coordination.Command.class)
                .onMessage(Coordination.Result.class, r -> {
                    running.get().tell(new ShardJob.Deliver(r));
                    return Behaviors.same();
                }).build());
        kit.system().receptionist().tell(Receptionist.register(Coordination.COORDINATOR, router));
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
        root.close();
    }

    @Test
    void aGeneratorTakesThePublishedWeightsBitForBit() {
        ActorRef<ShardWorker.Command> generator = kit.spawn(generator(new PolicyRef(0, init)));
        double syncs = DiceMetrics.get().weightSyncs.get();
        ShardJob.Done done = run(JobSpec.generate("generate-v1", 1, List.of(promptShard(1)))
                .withModels(trained.weights(), ""));
        GeneratedShard shard = done.generated().get(0);
        assertEquals(1, shard.getPolicyVersion());
        assertEquals(trained.weights().sha256(), shard.getWeightsSha256(), "generated with what rank 0 published");
        assertEquals(checkpointSha, shard.getWeightsSha256(), "bit-exact with the checkpoint on disk");
        assertTrue(DiceMetrics.get().weightSyncs.get() > syncs, "fetched from the trainer, not read from disk");
        assertEquals(1.0, DiceMetrics.get().weightVersion.get());
        kit.stop(generator);
    }

    @Test
    void aScorerKeepsItsPolicyAsTheNewReference() {
        // Holding π0, it scores v1: π1 is fetched and the reference π0 is the policy it held — the reference
        // directory, which does not exist, is never read.
        ActorRef<ShardWorker.Command> synced = kit.spawn(scorer(new ScoringActor.Models(new PolicyRef(0, init),
                new PolicyRef(-1, init))));
        ScoredShard fromSync = run(JobSpec.scoreOnly("score-synced", 1, List.of(generatedShard()),
                new JobSpec.ScoringModels(trained.dir(), 0, dir.resolve("no-such-model"))).withModels(trained.weights(), ""))
                .scored().get(0);
        kit.stop(synced);

        ActorRef<ShardWorker.Command> fromDisk = kit.spawn(scorer(null));
        ScoredShard read = run(JobSpec.scoreOnly("score-disk", 1, List.of(generatedShard()),
                new JobSpec.ScoringModels(trained.dir(), 0, init))).scored().get(0);
        kit.stop(fromDisk);
        assertEquals(read.getResponsesList(), fromSync.getResponsesList(),
                "same log-probs under π1 and π0 as a scorer that read both from disk");
        assertEquals(checkpointSha, fromSync.getWeightsSha256());
        assertNotEquals(read.getResponses(0).getLogpPolicy(), read.getResponses(0).getLogpRef(), "π1 is not π0");
    }

    @Test
    void anUnreachablePublisherFallsBackToTheCheckpoint() {
        ActorRef<ShardWorker.Command> generator = kit.spawn(generator(null));
        PublishedWeights nowhere = new PublishedWeights("127.0.0.1:1", 1, trained.weights().sha256(), TINY);
        ShardJob.Done done = run(JobSpec.generate("generate-fallback", 1, List.of(promptShard(1)))
                .withModels(nowhere, ""));
        assertEquals(checkpointSha, done.generated().get(0).getWeightsSha256());
        kit.stop(generator);
    }

    private static ShardJob.Done run(JobSpec spec) {
        TestProbe<ShardJob.Done> done = kit.createTestProbe();
        running.set(kit.spawn(ShardJob.create(spec, "sync-test", STORE_TIMEOUT, done.getRef())));
        return done.receiveMessage(WAIT);
    }

    private static org.apache.pekko.actor.typed.Behavior<ShardWorker.Command> generator(PolicyRef current) {
        return GenerationActor.create(root, BYTES, new ShardGeneration(16), current,
                Duration.ofSeconds(5), RESEND_AFTER, Path.of(""));
    }

    private static org.apache.pekko.actor.typed.Behavior<ShardWorker.Command> scorer(ScoringActor.Models current) {
        return ScoringActor.create(root, BYTES, new Scoring(16), current, Duration.ofSeconds(5), RESEND_AFTER, Path.of(""));
    }

    private static PromptShard promptShard(long version) {
        return PromptShard.newBuilder().setJob("t").setSampling(SAMPLING).setShard(0).setPolicyVersion(version).setSamplesPerPrompt(2).setSeed(4)
                .setPolicyDir(trained.dir().toString()).addPrompts(Prompt.newBuilder().setId("p").setText("upper: cat"))
                .build();
    }

    private static GeneratedShard generatedShard() {
        return GeneratedShard.newBuilder().setJob("t").setPolicyVersion(1)
                .addPrompts(Prompt.newBuilder().setId("p").setText("upper: cat"))
                .addResponses(Response.newBuilder().setPromptId("p").setText("CAT").setEndedOnEos(true))
                .addResponses(Response.newBuilder().setPromptId("p").setSample(1).setText("cat"))
                .build();
    }
}
