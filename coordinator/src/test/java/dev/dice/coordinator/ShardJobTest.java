package dev.dice.coordinator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Coordination;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.actors.ScoringActor;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.Sampling;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.delivery.ConsumerController;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Shard jobs on a one-node cluster with real workers, real work-pulling queues and the real H2 journal: a worker that
 * dies mid-shard loses nothing, a result is counted once and only from the job's version, and a job started again
 * under its persistence id (a coordinator that took over) resumes from what it had stored.
 */
class ShardJobTest {
    /** How the test's generators sample. */
    private static final Sampling SAMPLING = Sampling.newBuilder().setTemperature(1.0).setTopP(1.0).setMaxNewTokens(8)
            .setMinResponseChars(1).build();
    static ActorTestKit kit;
    static NDManager root;
    @TempDir
    static Path dir;
    static Path model;
    /** Stands in for the coordinator: routes every worker's result to the job the test runs. */
    static final AtomicReference<ActorRef<ShardJob.Command>> running = new AtomicReference<>();
    /** dice.cluster.queue-store-timeout and result-resend-after as reference.conf sets them. */
    private static final Duration STORE_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration RESEND_AFTER = Duration.ofSeconds(5);

    @BeforeAll
    static void start() {
        Journal journal = Journal.h2(dir);
        journal.createSchema();
        kit = ActorTestKit.create("jobs", Nodes.config(journal.pekkoConfig().withFallback(ConfigFactory.parseString(
                "pekko.actor.testkit.typed.default-timeout = 30s\npekko.actor.testkit.typed.single-expect-default = 30s"))));
        Cluster cluster = Cluster.get(kit.system());
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
        root = NDManager.newBaseManager();
        model = dir.resolve("model");
        LlamaConfig config = new LlamaConfig(259, 32, 64, 1, 2, 2, 48, 1e-5, 10000.0, true, 256, 257);
        try (Llama tiny = Llama.init(config, root.newSubManager(), 1)) {
            Checkpoint.saveModel(model, config, tiny.parameters());
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

    private static Behavior<dev.dice.actors.ShardWorker.Command> generator() {
        return GenerationActor.create(root, new ByteTokenizer(), new ShardGeneration(64),
                null, Duration.ofSeconds(30), RESEND_AFTER, Path.of(""));
    }

    private static List<PromptShard> shards(int n, long version) {
        List<PromptShard> shards = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            shards.add(PromptShard.newBuilder().setJob("test").setSampling(SAMPLING).setShard(s).setSamplesPerPrompt(2).setSeed(9)
                    .setPolicyVersion(version).setPolicyDir(model.toString())
                    .addPrompts(Prompt.newBuilder().setId("p" + s).setText("upper: cat")).build());
        }
        return shards;
    }

    private static ShardJob.Done run(JobSpec spec) {
        TestProbe<ShardJob.Done> done = kit.createTestProbe();
        running.set(kit.spawn(ShardJob.create(spec, "run-" + spec.name(), STORE_TIMEOUT, done.getRef())));
        return done.receiveMessage(Duration.ofSeconds(60));
    }

    @Test
    void aGeneratorThatDiesMidShardLosesNothing() {
        // Takes one shard and stops without confirming it, as a node killed mid-generation; says which shard it held.
        TestProbe<PromptShard> held = kit.createTestProbe();
        kit.spawn(Behaviors.<ConsumerController.Delivery<PromptShard>>setup(context -> {
            context.spawn(ConsumerController.create(GenerationActor.KEY), "work-queue")
                    .tell(new ConsumerController.Start<>(context.getSelf()));
            return Behaviors.receiveMessage(delivery -> {
                held.getRef().tell(delivery.message());
                return Behaviors.stopped();
            });
        }));
        ActorRef<dev.dice.actors.ShardWorker.Command> generator = kit.spawn(generator());
        ActorRef<dev.dice.actors.ShardWorker.Command> scorer = kit.spawn(ScoringActor.create(root, new ByteTokenizer(),
                new Scoring(64), null, Duration.ofSeconds(30), RESEND_AFTER, Path.of("")));
        ShardJob.Done result = run(JobSpec.generateAndScore("dies", 0, shards(6, 0),
                new JobSpec.ScoringModels(model, -1, model)));
        assertEquals(6, result.generated().size());
        assertEquals(6, result.scored().size());
        for (int s = 0; s < 6; s++) {
            assertEquals(s, result.generated().get(s).getShard());
            assertEquals(2, result.scored().get(s).getResponsesCount());
        }
        assertEquals(new ShardJob.Facts(6, 6, 0, 0, 0), result.facts());
        int lost = held.receiveMessage(Duration.ofSeconds(10)).getShard();
        assertTrue(lost >= 0 && lost < 6, "the dying consumer held shard " + lost + " of the job");
        kit.stop(generator);
        kit.stop(scorer);
    }

    @Test
    void aResultCountsOnceAndOnlyFromTheJobsVersion() {
        TestProbe<Coordination.Ack> acks = kit.createTestProbe();
        TestProbe<ShardJob.Done> done = kit.createTestProbe();
        List<PromptShard> shards = shards(2, 4);
        ActorRef<ShardJob.Command> job = kit.spawn(ShardJob.create(JobSpec.generate("versions", 4, shards),
                "run-versions", STORE_TIMEOUT, done.getRef()));
        job.tell(new ShardJob.Deliver(new Coordination.Generated(generated(shards.get(0), 3), "old", acks.getRef())));
        assertEquals(Coordination.Outcome.STALE, acks.receiveMessage().outcome());
        job.tell(new ShardJob.Deliver(new Coordination.Generated(generated(shards.get(0), 4), "w", acks.getRef())));
        assertEquals(Coordination.Outcome.STORED, acks.receiveMessage().outcome());
        job.tell(new ShardJob.Deliver(new Coordination.Generated(generated(shards.get(0), 4), "w", acks.getRef())));
        assertEquals(Coordination.Outcome.DUPLICATE, acks.receiveMessage().outcome());
        job.tell(new ShardJob.Deliver(new Coordination.Generated(generated(shards.get(1), 4), "w", acks.getRef())));
        assertEquals(Coordination.Outcome.STORED, acks.receiveMessage().outcome());
        assertEquals(new ShardJob.Facts(2, 2, 1, 1, 0), done.receiveMessage().facts());
    }

    @Test
    void aJobStartedAgainResumesFromWhatItStored() {
        TestProbe<Coordination.Ack> acks = kit.createTestProbe();
        TestProbe<ShardJob.Done> first = kit.createTestProbe();
        List<PromptShard> shards = shards(3, 0);
        JobSpec spec = JobSpec.generate("resume", 0, shards);
        ActorRef<ShardJob.Command> job = kit.spawn(ShardJob.create(spec, "run-resume", STORE_TIMEOUT, first.getRef()));
        job.tell(new ShardJob.Deliver(new Coordination.Generated(generated(shards.get(1), 0), "w", acks.getRef())));
        assertEquals(Coordination.Outcome.STORED, acks.receiveMessage().outcome());
        kit.stop(job); // the coordinator's node is gone

        ActorRef<dev.dice.actors.ShardWorker.Command> generator = kit.spawn(generator());
        ShardJob.Done result = run(spec); // the coordinator that takes over
        assertEquals(3, result.generated().size());
        assertEquals(1, result.facts().recovered());
        assertEquals("w-stored", result.generated().get(1).getResponses(0).getText(), "shard 1 is the stored result");
        kit.stop(generator);
    }

    private static GeneratedShard generated(PromptShard shard, long version) {
        GeneratedShard.Builder b = GeneratedShard.newBuilder().setJob(shard.getJob()).setShard(shard.getShard())
                .setPolicyVersion(version).addAllPrompts(shard.getPromptsList());
        for (int s = 0; s < shard.getSamplesPerPrompt(); s++) {
            b.addResponses(Response.newBuilder().setPromptId(shard.getPrompts(0).getId()).setSample(s).setText("w-stored"));
        }
        return b.build();
    }
}
