package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.IntraOpThreads;
import dev.dice.gpu.Llama;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.Collective;
import dev.dice.gpu.collective.CollectiveException;
import dev.dice.gpu.collective.FreePorts;
import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.RingAllReduce;
import dev.dice.gpu.collective.WeightDivergenceException;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightSnapshot;
import dev.dice.ops.DiceMetrics;
import dev.dice.proto.PreferencePair;
import dev.dice.work.Policy;
import dev.dice.work.Replica;
import dev.dice.work.Training;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Supplier;
import org.apache.pekko.actor.NoSerializationVerificationNeeded;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Trains. A stage (SFT or DPO) runs on one or more trainers that form a ring (a training job assigns the ranks):
 * each holds a replica of the policy, trains on its share of every global batch — one step per message, so the
 * trainer stays responsive between steps — and the ring averages the gradients ({@link Replica}). DPO's frozen
 * reference log-probs arrive with the pairs. When the stage is done, rank 0 writes the checkpoint and publishes the
 * weights for the generators and scorers to fetch. Spawn it on the model dispatcher: a step blocks its thread.
 *
 * <p>States: idle → training (a step per message) → holding (finished, or the ring failed: the replica waits for
 * {@link Resume}, {@link Publish} or {@link Release}) → idle.
 */
public final class TrainerActor {

    public sealed interface Command {}

    /**
     * Starts an SFT stage on this rank: load {@code initDir} (null: a fresh model of {@code config} initialised with
     * the stage seed), join the ring, train.
     */
    public record TrainSft(Path initDir, LlamaConfig config, List<Training.Example> data, Training.Settings settings,
            long version, Ring ring, ActorRef<Reply> replyTo) implements Command, Wire {}

    /** Asks for this trainer's address in ring {@code ringId}; answered with {@link RingAddress}. */
    public record OpenRing(String ringId, ActorRef<Reply> replyTo) implements Command, Wire {}

    /**
     * A rank's place in a ring: every member's "host:port" in rank order, this rank, and the ring's settings
     * ({@code fp16Gradients}: the gradients travel as fp16; {@code overlapGradients}: they are all-reduced while
     * backward runs).
     */
    public record Ring(String id, List<String> members, int rank, Duration timeout, int checkEvery,
            boolean fp16Gradients, boolean overlapGradients) {}

    /** Starts a DPO stage on this rank: load {@code init} (read or fetched, see {@link ModelSource}), join the ring, train. */
    public record TrainDpo(ModelSource init, List<PreferencePair> data, Training.Settings settings, long version, Ring ring,
            ActorRef<Reply> replyTo) implements Command, Wire {}

    /** After a ring failed: roll back to the sync point at {@code fromStep} and go on in {@code ring}. */
    public record Resume(int fromStep, Ring ring, ActorRef<Reply> replyTo) implements Command, Wire {}

    /**
     * To rank 0 once every rank has finished: write the checkpoint into {@code outDir} (named relative to the run
     * directory: this trainer's node's own, its restore point) and publish the weights.
     */
    public record Publish(Path outDir, boolean float32Weights, ActorRef<Reply> replyTo) implements Command, Wire {}

    /** The stage is over: drop the replica. */
    public record Release() implements Command, Wire {}

    private record NextStep() implements Command, NoSerializationVerificationNeeded {}

    public sealed interface Reply {}

    /** A step of the global batch, sent by rank 0. */
    public record Progress(long version, Training.Step step, int totalSteps) implements Reply, Wire {}

    /** The stage's model is in {@code dir} and served as {@code weights}. */
    public record Trained(Path dir, long version, List<Training.Step> log, PublishedWeights weights)
            implements Reply, Wire {}

    public record RingAddress(String ringId, String address, ActorRef<Command> from) implements Reply, Wire {}

    /** Every step is done and the ring agreed on the final weights; the replica is held until Publish or Release. */
    public record RankFinished(String ringId, int rank, String weightsSha256, ActorRef<Command> from)
            implements Reply, Wire {}

    /**
     * The ring failed under this rank; its replica waits at sync step {@code syncStep} (and the one before). Fatal:
     * the replicas diverged or the stage cannot run, so re-forming the ring would not help.
     */
    public record RankFailed(String ringId, int rank, int syncStep, String reason, boolean fatal,
            ActorRef<Command> from) implements Reply, Wire {}

    /** What the trainer saves beside the weights so that a stage can resume exactly. */
    public record TrainerState(int step, long seed, long version) {}

    /** One training stage on this trainer. */
    private static final class Stage {
        final Replica<?> replica;
        final Training.Settings settings;
        final long version;
        ActorRef<Reply> replyTo;
        Ring place;
        RingAllReduce ring;
        /** The step this rank joined its ring at: the first step after it is logged with its time. */
        int joinedAt;

        Stage(Replica<?> replica, Training.Settings settings, long version, ActorRef<Reply> replyTo) {
            this.replica = replica;
            this.settings = settings;
            this.version = version;
            this.replyTo = replyTo;
        }

        void closeRing() {
            if (ring != null) {
                ring.close();
                ring = null;
            }
        }
    }

    private final ActorContext<Command> context;
    private final NDManager device;
    private final Tokenizer tokenizer;
    /** Where the ring server and the weight publisher listen: the node's own address. */
    private final String host;
    /** Plaintext, or mutual TLS when the node has {@code dice.tls} on. */
    private final GrpcTransport transport;
    /** This node's run directory: the checkpoints a message names relative to it are here, or fetched. */
    private final Path runDir;
    private final Duration fetchTimeout;
    /** libtorch intra-op threads of this trainer's steps (0: the JVM's). */
    private final int threads;
    private WeightPublisher publisher;

    private TrainerActor(ActorContext<Command> context, NDManager device, Tokenizer tokenizer, Path runDir,
            Duration fetchTimeout, int threads) {
        this.threads = threads;
        this.context = context;
        this.device = device;
        this.tokenizer = tokenizer;
        this.runDir = runDir;
        this.fetchTimeout = fetchTimeout;
        this.host = context.getSystem().settings().config().getString("pekko.remote.artery.canonical.hostname");
        this.transport = NodeTls.from(context.getSystem().settings().config()).grpc();
    }

    /** A trainer that resolves the checkpoints it is sent against the working directory. */
    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer) {
        return create(device, tokenizer, Path.of(""), Duration.ofSeconds(60), 0);
    }

    /**
     * @param runDir       this node's run directory
     * @param fetchTimeout longest wait for a model this node has no checkpoint of
     * @param threads      libtorch intra-op threads of its steps (0: the JVM's); trainers sharing a JVM divide its cores
     */
    public static Behavior<Command> create(NDManager device, Tokenizer tokenizer, Path runDir, Duration fetchTimeout,
            int threads) {
        return Behaviors.setup(context -> new TrainerActor(context, device, tokenizer, runDir, fetchTimeout, threads)
                .idle());
    }

    // ---- states ---------------------------------------------------------------------------------------------

    private Behavior<Command> idle() {
        return Behaviors.receive(Command.class)
                .onMessage(TrainSft.class, this::onSft)
                .onMessage(OpenRing.class, this::onOpenRing)
                .onMessage(TrainDpo.class, this::onDpo)
                .onMessage(Release.class, release -> Behaviors.same())
                .onSignal(PostStop.class, signal -> stopped(null))
                .build();
    }

    private Behavior<Command> training(Stage stage) {
        return Behaviors.receive(Command.class)
                .onMessage(NextStep.class, step -> onStep(stage))
                .onMessage(Release.class, release -> release(stage, "released mid-stage"))
                .onSignal(PostStop.class, signal -> stopped(stage))
                .build();
    }

    private Behavior<Command> holding(Stage stage) {
        return Behaviors.receive(Command.class)
                .onMessage(OpenRing.class, this::onOpenRing)
                .onMessage(Resume.class, resume -> onResume(stage, resume))
                .onMessage(Publish.class, publish -> onPublish(stage, publish))
                .onMessage(Release.class, release -> release(stage, null))
                .onSignal(PostStop.class, signal -> stopped(stage))
                .build();
    }

    // ---- a stage on a ring ------------------------------------------------------------------------------------

    private Behavior<Command> onOpenRing(OpenRing open) {
        open.replyTo().tell(new RingAddress(open.ringId(), host + ":" + freePort(), context.getSelf()));
        return Behaviors.same();
    }

    /** A port free now, for the ring server the trainer binds when the ring starts. */
    private int freePort() {
        try {
            return FreePorts.on(InetAddress.getByName(host), 1).get(0);
        } catch (UnknownHostException e) {
            throw new UncheckedIOException("trainer: no free port on " + host, e);
        }
    }

    private Behavior<Command> onSft(TrainSft job) {
        return start(job.ring(), job.settings(), job.version(), job.replyTo(), () -> new Replica<>(job.initDir() != null
                ? Policy.load(job.initDir(), tokenizer, device, job.version())
                : new Policy(Llama.init(job.config(), device.newSubManager(), job.settings().seed()), tokenizer,
                        job.version()), job.data(), job.settings(), new Training.SftLoss()));
    }

    private Behavior<Command> onDpo(TrainDpo job) {
        return start(job.ring(), job.settings(), job.version(), job.replyTo(), () -> new Replica<>(
                init(job.init(), job.version()), job.data(), job.settings(), new Training.DpoLoss(job.settings().beta())));
    }

    /** The stage's starting model as version {@code version}: read, or fetched when this node has no checkpoint. */
    private Policy init(ModelSource source, long version) {
        ModelSource here = source.in(runDir);
        if (here.onThisNode()) {
            return Policy.load(here.dir(), tokenizer, device, version);
        }
        try (WeightFetch fetch = new WeightFetch(context); Policy fetched = here.load(fetch, fetchTimeout, tokenizer,
                device).policy()) {
            context.getLog().info("trainer fetched its starting model v{} (no checkpoint {} on this node)",
                    source.version(), here.dir());
            return fetched.copy(version);
        }
    }

    private Behavior<Command> start(Ring place, Training.Settings settings, long version, ActorRef<Reply> replyTo,
            Supplier<Replica<?>> replica) {
        Stage stage;
        try {
            stage = new Stage(replica.get(), settings, version, replyTo);
        } catch (RuntimeException e) {
            replyTo.tell(new RankFailed(place.id(), place.rank(), 0, "cannot start: " + e, true, context.getSelf()));
            return Behaviors.same();
        }
        return join(stage, place);
    }

    private Behavior<Command> onResume(Stage stage, Resume resume) {
        stage.replyTo = resume.replyTo();
        try {
            stage.replica.rollBack(resume.fromStep());
        } catch (RuntimeException e) {
            return failed(stage, resume.ring(), e);
        }
        return join(stage, resume.ring());
    }

    private Behavior<Command> join(Stage stage, Ring place) {
        stage.place = place;
        try {
            stage.ring = new RingAllReduce(place.members(), place.rank(),
                    RingAllReduce.Settings.of(place.timeout()).withRingId(place.id()).withTransport(transport));
            stage.replica.join(stage.ring, place.checkEvery(),
                    place.fp16Gradients() ? Collective.Precision.FP16 : Collective.Precision.FP32,
                    DiceMetrics.get()::recordAllReduce, place.overlapGradients());
        } catch (RuntimeException e) {
            return failed(stage, place, e);
        }
        context.getLog().info("trainer rank {} of {} in ring {}, from step {} of {}", place.rank(),
                place.members().size(), place.id(), stage.replica.steps(), stage.settings.steps());
        stage.joinedAt = stage.replica.steps();
        context.getSelf().tell(new NextStep());
        return training(stage);
    }

    private Behavior<Command> onStep(Stage stage) {
        Training.Step step;
        long t0 = System.nanoTime();
        try {
            IntraOpThreads.use(threads); // whatever the dispatcher thread's last work set
            step = stage.replica.step();
        } catch (RuntimeException e) {
            return failed(stage, stage.place, e);
        }
        if (step.step() == stage.joinedAt + 1) {
            context.getLog().info("trainer rank {} in ring {}: step {} of {} took {} ms", stage.place.rank(),
                    stage.place.id(), step.step(), stage.settings.steps(), (System.nanoTime() - t0) / 1_000_000);
        }
        if (stage.place.rank() == 0) {
            stage.replyTo.tell(new Progress(stage.version, step, stage.settings.steps()));
        }
        if (!stage.replica.done()) {
            context.getSelf().tell(new NextStep());
            return Behaviors.same();
        }
        stage.closeRing();
        stage.replyTo.tell(new RankFinished(stage.place.id(), stage.place.rank(),
                stage.replica.policy().weightsSha256(), context.getSelf()));
        return holding(stage);
    }

    /**
     * Leaves the ring and tells the job where this replica can resume from. Fatal unless the ring broke (a peer
     * failed, or a port was taken): diverged replicas, a bug or a bad checkpoint would fail again in a new ring.
     */
    private Behavior<Command> failed(Stage stage, Ring place, RuntimeException e) {
        boolean ringBroke = e instanceof CollectiveException || e instanceof UncheckedIOException;
        boolean fatal = e instanceof WeightDivergenceException || !ringBroke;
        if (stage.ring != null) {
            stage.ring.abort(e.getMessage()); // whatever failed here, the other ranks must not wait out their timeout
        }
        stage.closeRing();
        context.getLog().warn("trainer rank {} in ring {}: {} at step {}; holding sync step {}{}", place.rank(),
                place.id(), e.getMessage(), stage.replica.steps(), stage.replica.latestSync(), fatal ? " (fatal)" : "");
        stage.replyTo.tell(new RankFailed(place.id(), place.rank(), stage.replica.latestSync(),
                e.getMessage() == null ? e.toString() : e.getMessage(), fatal, context.getSelf()));
        return holding(stage);
    }

    private Behavior<Command> onPublish(Stage stage, Publish publish) {
        publish.replyTo().tell(save(stage.replica.policy(), stage.settings, runDir.resolve(publish.outDir()),
                publish.float32Weights(), stage.replica.log()));
        return Behaviors.same();
    }

    // ---- results -----------------------------------------------------------------------------------------------

    /** Writes the checkpoint (resume reads it) and publishes the same weights for generators and scorers. */
    private Trained save(Policy policy, Training.Settings settings, Path outDir, boolean float32,
            List<Training.Step> log) {
        policy.save(outDir, float32);
        Checkpoint.writeJson(outDir.resolve("trainer_state.json"),
                new TrainerState(settings.steps(), settings.seed(), policy.version()));
        Checkpoint.writeJson(outDir.resolve("train_log.json"), log);
        if (publisher == null) {
            publisher = new WeightPublisher(host, 0, WeightPublisher.DEFAULT_CHUNK_BYTES, transport);
        }
        publisher.withdraw(); // the previous version goes before the next is copied: one host copy at a time
        WeightSnapshot snapshot = policy.snapshot();
        publisher.publish(snapshot);
        String sha256 = snapshot.sha256Hex();
        snapshot.release(); // the publisher holds it now
        String address = host + ":" + publisher.port();
        context.getLog().info("trainer published v{} (sha256 {}, {} MB off the heap) at {}; checkpoint {}",
                snapshot.version(), sha256.substring(0, 12), snapshot.bytes() >> 20, address, outDir);
        return new Trained(outDir, policy.version(), log,
                new PublishedWeights(address, snapshot.version(), sha256, policy.model().config()));
    }

    private Behavior<Command> release(Stage stage, String abort) {
        if (abort != null && stage.ring != null) {
            stage.ring.abort(abort);
        }
        stage.closeRing();
        stage.replica.close();
        return idle();
    }

    private Behavior<Command> stopped(Stage stage) {
        if (stage != null) {
            stage.closeRing(); // the neighbours see the link end and fail their step at once
            stage.replica.close();
        }
        if (publisher != null) {
            publisher.close();
        }
        return Behaviors.same();
    }
}
