package dev.dice.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDManager;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.dice.actors.Coordination;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.Journal;
import dev.dice.actors.Nodes;
import dev.dice.coordinator.JobSpec;
import dev.dice.coordinator.ShardJob;
import dev.dice.gpu.ByteTokenizer;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.proto.Prompt;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Sampling;
import dev.dice.work.ShardGeneration;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three real actor systems on loopback: a coordinator node runs a round's generation job (its shards in a durable
 * work-pulling queue), one generator node serves it, and a second generator node that joins the cluster once the
 * round is under way starts pulling shards at once. Every shard is generated and counted once.
 */
class GeneratorJoinsMidRoundTest {
    /** How the test's generators sample. */
    private static final Sampling SAMPLING = Sampling.newBuilder().setTemperature(1.0).setTopP(1.0).setMaxNewTokens(12)
            .setMinResponseChars(1).build();
    private static final int SHARDS = 240;

    @Test
    void aGeneratorThatJoinsMidRoundReceivesWork(@TempDir Path dir) throws Exception {
        Journal journal = Journal.h2(dir);
        journal.createSchema();
        int seed = FreePorts.loopback();
        List<ActorSystem<?>> systems = new ArrayList<>();
        try (NDManager device = NDManager.newBaseManager()) {
            Path model = tinyModel(dir.resolve("model"), device);
            Set<String> workers = ConcurrentHashMap.newKeySet();
            CompletableFuture<Void> underWay = new CompletableFuture<>();
            CompletableFuture<ShardJob.Done> done = new CompletableFuture<>();
            ActorSystem<ShardJob.Done> coordinator = ActorSystem.create(Behaviors.setup(context -> {
                ActorRef<ShardJob.Command> job = context.spawn(ShardJob.create(JobSpec.generate("round1", 1,
                        shards(model)), "join-test", Duration.ofSeconds(60), context.getSelf()), "job");
                // The coordinator's part in the result path: results go to the job; the test notes who sent them.
                ActorRef<Coordination.Command> router = context.spawn(Behaviors.receive(Coordination.Command.class)
                        .onMessage(Coordination.Result.class, r -> {
                            workers.add(r.worker());
                            underWay.complete(null);
                            job.tell(new ShardJob.Deliver(r));
                            return Behaviors.same();
                        }).build(), "router");
                context.getSystem().receptionist().tell(Receptionist.register(Coordination.COORDINATOR, router));
                return Behaviors.receiveMessage(finished -> {
                    done.complete(finished);
                    return Behaviors.same();
                });
            }), Nodes.SYSTEM, node(seed, seed, Set.of("coordinator"), journal));
            systems.add(coordinator);
            systems.add(ActorSystem.create(generator(device), Nodes.SYSTEM, node(0, seed, Set.of("generator"), journal)));

            underWay.get(60, TimeUnit.SECONDS);
            ActorSystem<?> joining = ActorSystem.create(generator(device), Nodes.SYSTEM,
                    node(0, seed, Set.of("generator"), journal));
            systems.add(joining);
            String joiner = joining.address().hostPort();

            ShardJob.Done result = done.get(120, TimeUnit.SECONDS);
            assertEquals(SHARDS, result.generated().size());
            for (int s = 0; s < SHARDS; s++) {
                assertEquals(s, result.generated().get(s).getShard());
            }
            assertEquals(SHARDS, result.facts().promptsCompleted());
            assertEquals(0, result.facts().promptsDispatched() - result.facts().promptsCompleted(), "no prompt lost");
            assertTrue(workers.stream().anyMatch(w -> w.startsWith(joiner)),
                    "the generator that joined mid-round served shards: " + workers);
        } finally {
            for (ActorSystem<?> system : systems) {
                system.terminate();
                system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static Behavior<Void> generator(NDManager device) {
        return Behaviors.setup(context -> {
            context.spawn(GenerationActor.create(device, new ByteTokenizer(),
                    new ShardGeneration(64), null, Duration.ofSeconds(30), Duration.ofSeconds(5), Path.of("")),
                    "generator-0");
            return Behaviors.empty();
        });
    }

    private static Config node(int port, int seed, Set<String> roles, Journal journal) {
        return Nodes.cluster("127.0.0.1", port, List.of("127.0.0.1:" + seed), roles, "cpu")
                .withFallback(journal.pekkoConfig())
                .withFallback(Nodes.config(ConfigFactory.parseMap(Map.of())));
    }

    private static List<PromptShard> shards(Path model) {
        List<PromptShard> shards = new ArrayList<>();
        for (int s = 0; s < SHARDS; s++) {
            shards.add(PromptShard.newBuilder().setJob("round1").setSampling(SAMPLING).setShard(s).setSamplesPerPrompt(2).setSeed(5)
                    .setPolicyVersion(1).setPolicyDir(model.toString())
                    .addPrompts(Prompt.newBuilder().setId("p" + s).setText("reverse: red cat " + s)).build());
        }
        return shards;
    }

    private static Path tinyModel(Path dir, NDManager device) {
        LlamaConfig config = new LlamaConfig(259, 32, 64, 1, 2, 2, 48, 1e-5, 10000.0, true, 256, 257);
        try (Llama tiny = Llama.init(config, device.newSubManager(), 1)) {
            Checkpoint.saveModel(dir, config, tiny.parameters());
        }
        return dir;
    }
}
