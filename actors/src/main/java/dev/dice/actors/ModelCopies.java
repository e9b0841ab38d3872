package dev.dice.actors;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.typesafe.config.Config;
import dev.dice.gpu.Checkpoint;
import dev.dice.gpu.LlamaConfig;
import dev.dice.gpu.ModelFiles;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.CollectiveException;
import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightReceiver;
import dev.dice.gpu.collective.WeightSnapshot;
import dev.dice.work.Policy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The coordinator's node's side of a run directory that is not shared: it serves the checkpoints of its run
 * directory by version over gRPC (one {@link WeightPublisher} each, the weights loaded once), so that any node can
 * fetch any version a job names — π0 and the reference included — and it fetches a version trained on another node
 * into its run directory. Only the versions of the running job are served; the others are closed.
 */
public final class ModelCopies implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ModelCopies.class);

    private record Served(Path dir, WeightPublisher publisher, PublishedWeights weights) {}

    private final String host;
    private final GrpcTransport transport;
    private final Tokenizer tokenizer;
    private final NDManager device;
    private final Map<Long, Served> served = new HashMap<>();

    /** Listens on {@code node}'s own address, plaintext or mutual TLS as its {@code dice.tls} says. */
    public ModelCopies(Config node, Tokenizer tokenizer, NDManager device) {
        this.host = node.getString("pekko.remote.artery.canonical.hostname");
        this.transport = NodeTls.from(node).grpc();
        this.tokenizer = tokenizer;
        this.device = device;
    }

    /**
     * Serves the checkpoint in {@code dir} as {@code version} (read once, until {@link #forget forgotten}); where to
     * fetch it. The weights are held off the Java heap, whatever their size.
     */
    public synchronized PublishedWeights serve(long version, Path dir) {
        Served s = served.get(version);
        if (s != null && s.dir().equals(dir)) {
            return s.weights();
        }
        forget(version);
        LlamaConfig config = LlamaConfig.load(dir.resolve(Checkpoint.CONFIG_FILE));
        WeightSnapshot snapshot;
        try (Policy policy = Policy.load(dir, tokenizer, device, version)) {
            snapshot = policy.snapshot();
        }
        WeightPublisher publisher = new WeightPublisher(host, 0, WeightPublisher.DEFAULT_CHUNK_BYTES, transport);
        publisher.publish(snapshot);
        snapshot.release(); // the publisher holds it until the version is forgotten
        PublishedWeights weights = new PublishedWeights(host + ":" + publisher.port(), version, snapshot.sha256Hex(),
                config);
        served.put(version, new Served(dir, publisher, weights));
        log.info("serving v{} (sha256 {}) of {} at {}", version, weights.sha256().substring(0, 12), dir,
                weights.publisher());
        return weights;
    }

    /** Stops serving every version but {@code versions}. */
    public synchronized void retain(Collection<Long> versions) {
        served.keySet().stream().filter(v -> !versions.contains(v)).toList().forEach(this::forget);
    }

    /** Stops serving {@code version} (its checkpoint is written anew). */
    public synchronized void forget(long version) {
        Served s = served.remove(version);
        if (s != null) {
            s.publisher().close();
        }
    }

    /**
     * Fetches {@code weights} (verified) and writes them into {@code dir} as a model directory with the files of the
     * model it was trained from ({@code from}: its config, dtype and passthrough files, as the trainer saves them; null:
     * a model built here), as float32 when {@code float32}: the checkpoint a trainer on another node wrote into its own
     * directory, now in this one.
     */
    public void fetchInto(PublishedWeights weights, Path dir, Path from, boolean float32, Duration timeout) {
        ModelFiles release = from == null ? ModelFiles.BUILT_HERE : ModelFiles.of(from, tokenizer.files());
        ModelFiles files = float32 ? release.withFloat32() : release;
        WeightSnapshot snapshot;
        try (WeightReceiver receiver = new WeightReceiver(weights.publisher(), WeightPublisher.DEFAULT_CHUNK_BYTES,
                transport)) {
            snapshot = receiver.fetch(weights.version(), timeout);
        }
        if (snapshot.version() != weights.version() || !snapshot.sha256Hex().equals(weights.sha256())) {
            throw new CollectiveException(weights.publisher() + " sent v" + snapshot.version() + " (sha256 "
                    + snapshot.sha256Hex() + "), not v" + weights.version() + " (sha256 " + weights.sha256() + ")");
        }
        try (NDManager manager = device.newSubManager()) {
            Map<String, NDArray> arrays = snapshot.toArrays(manager);
            snapshot.release();
            files.roundInPlace(arrays.values());
            if (!WeightSnapshot.sha256Hex(arrays).equals(weights.sha256())) {
                throw new IllegalStateException(dir + ": v" + weights.version() + " as published is not representable"
                        + " in the release's dtype " + files.dtype() + "; the trainer must round it first");
            }
            Checkpoint.saveModel(dir, weights.config(), arrays, files);
        }
        log.info("fetched v{} (sha256 {}) from {} into {}", weights.version(), weights.sha256().substring(0, 12),
                weights.publisher(), dir);
    }

    @Override
    public synchronized void close() {
        served.keySet().stream().toList().forEach(this::forget);
    }
}
