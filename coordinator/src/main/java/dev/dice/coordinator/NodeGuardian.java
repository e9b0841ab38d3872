package dev.dice.coordinator;

import ai.djl.ndarray.NDManager;
import dev.dice.actors.Coordination;
import dev.dice.actors.GenerationActor;
import dev.dice.actors.NodeBootstrap;
import dev.dice.actors.ReplayBuffer;
import dev.dice.actors.ScoringActor;
import dev.dice.actors.FileCatalogue;
import dev.dice.actors.FileFetch;
import dev.dice.actors.FileServer;
import dev.dice.actors.TrainerActor;
import dev.dice.gpu.BadInputException;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.Tokenizer;
import dev.dice.work.Scoring;
import dev.dice.work.ShardGeneration;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.ChildFailed;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.pubsub.Topic;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.ClusterSingletonSettings;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.SingletonActor;

/**
 * The root of a DICE node. It spawns the workers of the node's roles on the model dispatcher — generators and
 * scorers pull work from the coordinator's queues, a trainer is registered with the receptionist — and, on nodes
 * with those roles, the run's two cluster singletons: the replay buffer and the coordinator. When the run ends
 * (the coordinator's node writes summary.json and publishes the end on the run topic) every node hears it and
 * completes {@code ended}. A worker that fails ends this node (completes {@code ended} exceptionally); the others
 * take over its work.
 */
final class NodeGuardian {
    private NodeGuardian() {}

    sealed interface Command extends NoSerializationVerificationNeeded {}

    record LeaderFinished(Coordinator.Finished finished) implements Command {}

    record LeaderFailed(Throwable cause) implements Command {}

    private record Ended(Coordination.RunEnded ended) implements Command {}

    /** This node cannot serve the run as it was started (one line for the user). */
    record Refused(BadInputException why) implements Command {}

    private record TokenizerFetched(FileFetch.Outcome outcome) implements Command {}

    /**
     * What a node needs: its roles, the run, the name its events carry in the journal, the device its workers compute
     * on, the tokenizer (null: this node cannot read the user's, and fetches it from a node that can).
     */
    record Setup(Set<String> roles, boolean alone, RunConfig config, RunDirectory dir, String journalName,
            NDManager device, Tokenizer tokenizer) {
        Setup withTokenizer(Tokenizer loaded) {
            return new Setup(roles, alone, config, dir, journalName, device, loaded);
        }
    }

    static Behavior<Command> create(Setup setup, CompletableFuture<Coordination.RunEnded> ended) {
        return Behaviors.setup(context -> {
            Cluster cluster = Cluster.get(context.getSystem());
            if (setup.alone()) {
                cluster.manager().tell(Join.create(cluster.selfMember().address()));
            } else {
                NodeBootstrap.start(context.getSystem()); // Kubernetes; else the seed nodes are joined by themselves
            }
            context.getLog().info("node {}: roles {}, device {}", cluster.selfMember().address().hostPort(), setup.roles(),
                    setup.device().getDevice());
            AtomicBoolean over = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            if (setup.tokenizer() == null) {
                Path into = setup.dir().root().resolve("tokenizer");
                context.getLog().info("tokenizer files: not readable here; fetching them into {} from a node that has"
                        + " them", into);
                context.spawn(FileFetch.create(FileServer.TOKENIZER, into, name -> !name.contains("/"),
                        "tokenizer files", context.messageAdapter(FileFetch.Outcome.class, TokenizerFetched::new)),
                        "tokenizer-fetch", DispatcherSelector.blocking());
            } else {
                spawnWorkers(context, setup);
            }
            // A node that may take the coordinator over keeps a copy of the coordinator's run directory.
            ActorRef<RunMirror.Command> mirror = setup.roles().contains("coordinator") && !setup.alone()
                    ? context.spawn(RunMirror.create(setup.dir().root(), setup.config().journal().kind().equals("h2"),
                            context.getSelf()), "run-mirror", DispatcherSelector.blocking()) : null;
            spawnSingletons(context, setup, over, mirror);
            ActorRef<Topic.Command<Coordination.RunEnded>> topic = context.spawn(
                    Topic.create(Coordination.RunEnded.class, Coordination.RUN_TOPIC), "run-topic");
            topic.tell(Topic.subscribe(context.messageAdapter(Coordination.RunEnded.class, Ended::new)));
            return Behaviors.receive(Command.class)
                    .onMessage(LeaderFinished.class, message -> {
                        Coordinator.Finished finished = message.finished();
                        Summary.write(setup.dir().root(), setup.config(), finished.stages(), finished.membership());
                        RunObserver.runFinished(setup.dir().root()); // metrics.prom and report.html
                        topic.tell(Topic.publish(new Coordination.RunEnded(true, "run " + setup.dir().root() + " finished")));
                        return Behaviors.same();
                    })
                    .onMessage(LeaderFailed.class, message -> {
                        context.getLog().error("the run failed", message.cause());
                        failure.set(message.cause());
                        topic.tell(Topic.publish(new Coordination.RunEnded(false, "the run failed on "
                                + cluster.selfMember().address().hostPort() + ": " + message.cause())));
                        return Behaviors.same();
                    })
                    .onMessage(Refused.class, message -> {
                        ended.completeExceptionally(message.why());
                        return Behaviors.same();
                    })
                    .onMessage(TokenizerFetched.class, message -> {
                        try {
                            if (message.outcome() instanceof FileFetch.Arrived arrived) {
                                spawnWorkers(context, setup.withTokenizer(DiceRun.tokenizer(setup.config(),
                                        arrived.dir())));
                                return Behaviors.same();
                            }
                            throw new IllegalStateException("the tokenizer could not be fetched: "
                                    + ((FileFetch.Failed) message.outcome()).why());
                        } catch (RuntimeException e) {
                            ended.completeExceptionally(e);
                            return Behaviors.stopped();
                        }
                    })
                    .onMessage(Ended.class, message -> {
                        // Heard through the topic, also on the node that published it: by then the others were sent it.
                        over.set(true);
                        if (mirror != null) {
                            mirror.tell(RunMirror.Halt.INSTANCE);
                        }
                        Coordination.RunEnded end = message.ended();
                        if (end.ok()) {
                            ended.complete(end);
                        } else {
                            ended.completeExceptionally(failure.get() != null ? failure.get()
                                    : new IllegalStateException(end.message()));
                        }
                        return Behaviors.same();
                    })
                    .onSignal(Terminated.class, signal -> {
                        String name = signal.getRef().path().name();
                        ended.completeExceptionally(signal instanceof ChildFailed f
                                ? new IllegalStateException(name + " failed: " + f.getCause(), f.getCause())
                                : new IllegalStateException(name + " stopped"));
                        return Behaviors.stopped();
                    })
                    .build();
        });
    }

    /** The node's workers, and a server of the user's tokenizer files for the nodes that cannot read them. */
    private static void spawnWorkers(ActorContext<Command> context, Setup setup) {
        RunConfig config = setup.config();
        if (!setup.tokenizer().files().isEmpty()) {
            context.spawn(FileServer.create(FileServer.TOKENIZER, FileCatalogue.of(setup.tokenizer().files())),
                    "tokenizer-files", DispatcherSelector.blocking());
        }
        DispatcherSelector model = DispatcherSelector.fromConfig("dice.model-dispatcher");
        if (setup.roles().contains("generator")) {
            ShardGeneration generation = new ShardGeneration(config.cluster().batchRows(),
                    config.cluster().generatorMemory(), config.cluster().threadsPerWorker());
            for (int i = 0; i < config.cluster().generatorsOn(setup.device().getDevice().isGpu()); i++) {
                context.watch(context.spawn(GenerationActor.create(setup.device(), setup.tokenizer(), generation,
                        null, config.trainers().weightFetchTimeout(),
                        config.waits().resultResendAfter(), setup.dir().root()),
                        "generator-" + i, model));
            }
        }
        if (setup.roles().contains("scorer")) {
            for (int i = 0; i < config.cluster().scorersOn(setup.device().getDevice().isGpu()); i++) {
                context.watch(context.spawn(ScoringActor.create(setup.device(), setup.tokenizer(),
                        new Scoring(config.cluster().batchRows(), config.cluster().threadsPerWorker()), null,
                        config.trainers().weightFetchTimeout(), config.waits().resultResendAfter(), setup.dir().root()),
                        "scorer-" + i, model));
            }
        }
        if (setup.roles().contains("trainer")) {
            int trainers = trainersOffered(setup.alone(), config);
            // Trainers of one JVM train at once (a ring): each on its share of the cores.
            int threads = Math.max(1, IntraOpThreads.jvmDefault() / trainers);
            for (int i = 0; i < trainers; i++) {
                ActorRef<TrainerActor.Command> trainer = context.spawn(TrainerActor.create(setup.device(),
                        setup.tokenizer(), setup.dir().root(), config.trainers().weightFetchTimeout(), threads),
                        "trainer-" + i, model);
                context.watch(trainer);
                context.getSystem().receptionist().tell(Receptionist.register(Coordination.TRAINERS, trainer));
            }
        }
    }

    /** A single process offers every trainer of the run, a cluster node {@code dice.cluster.node-trainers}. */
    static int trainersOffered(boolean alone, RunConfig config) {
        return alone ? config.trainers().count() : config.trainers().perNode();
    }

    /**
     * The replay buffer runs on the oldest node with the replay role, the coordinator on the oldest with the
     * coordinator role; every node that needs one gets a proxy. Once the run is over a singleton that moves
     * (nodes leave one by one) is not started again.
     */
    private static void spawnSingletons(ActorContext<Command> context, Setup setup, AtomicBoolean over,
            ActorRef<RunMirror.Command> mirror) {
        if (!setup.roles().contains("replay") && !setup.roles().contains("coordinator")) {
            return;
        }
        ClusterSingleton singletons = ClusterSingleton.get(context.getSystem());
        ActorRef<ReplayBuffer.Command> replay = singletons.init(SingletonActor.of(
                Behaviors.<ReplayBuffer.Command>setup(c -> over.get() ? Behaviors.empty() : ReplayBuffer.create(setup.journalName())),
                "replay-buffer").withSettings(ClusterSingletonSettings.create(context.getSystem()).withRole("replay")));
        if (setup.roles().contains("coordinator")) {
            singletons.init(SingletonActor.of(Behaviors.<RunLeader.Command>setup(c -> over.get() ? Behaviors.empty()
                    : RunLeader.create(setup, replay, context.getSelf(), mirror)),
                    "coordinator").withSettings(ClusterSingletonSettings.create(context.getSystem()).withRole("coordinator")));
        }
    }
}
