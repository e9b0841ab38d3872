package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.CollectiveException;
import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.WeightPublisher;
import dev.dice.gpu.collective.WeightReceiver;
import dev.dice.gpu.collective.WeightSnapshot;
import dev.dice.ops.DiceMetrics;
import dev.dice.work.Policy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.slf4j.Logger;

/**
 * How a generator or scorer takes a newly trained model: fetched from the trainer's weight publisher and verified
 * (CRC32C per chunk, SHA-256 of the whole) — or, when that fails, read from the checkpoint the trainer wrote (or, on a
 * node without it, fetched from another source: {@link ModelSource}).
 * One receiver per publisher, reused while the publisher stays the same.
 */
final class WeightFetch implements AutoCloseable {
    private final Logger log;
    private final GrpcTransport transport;
    private WeightReceiver receiver;
    private String source;

    /** Fetches over {@code context}'s node transport: plaintext, or mutual TLS when {@code dice.tls} is on. */
    WeightFetch(ActorContext<?> context) {
        this.log = context.getLog();
        this.transport = NodeTls.from(context.getSystem().settings().config()).grpc();
    }

    /** A policy and where it came from: the publisher's address, or the checkpoint directory. */
    record Fetched(Policy policy, String source) {}

    Fetched fetch(PublishedWeights weights, Path checkpoint, Duration timeout, Tokenizer tokenizer, NDManager device) {
        return fetch(weights, () -> new Fetched(Policy.load(checkpoint, tokenizer, device, weights.version()),
                checkpoint.toString()), timeout, tokenizer, device);
    }

    /** Fetches {@code weights}; when they are not served, too large for a snapshot or the fetch fails: {@code otherwise}. */
    Fetched fetch(PublishedWeights weights, Supplier<Fetched> otherwise, Duration timeout, Tokenizer tokenizer,
            NDManager device) {
        if (weights.publisher().equals(PublishedWeights.CHECKPOINT_ONLY)
                || !WeightSnapshot.fits(4 * weights.config().parameterCount())) {
            return otherwise.get();
        }
        long start = System.nanoTime();
        try {
            WeightSnapshot snapshot = receiverFor(weights.publisher()).fetch(weights.version(), timeout);
            if (snapshot.version() != weights.version()) {
                throw new CollectiveException("the publisher serves v" + snapshot.version() + ", not v" + weights.version());
            }
            Policy policy = Policy.of(snapshot, weights.config(), tokenizer, device);
            DiceMetrics.get().recordWeightSync(weights.version(), (System.nanoTime() - start) / 1e9);
            return new Fetched(policy, weights.publisher() + " in " + (System.nanoTime() - start) / 1_000_000 + " ms");
        } catch (CollectiveException e) {
            log.warn("weight fetch of v{} from {} failed ({}); falling back", weights.version(), weights.publisher(),
                    e.getMessage());
            return otherwise.get();
        }
    }

    private WeightReceiver receiverFor(String publisher) {
        if (!publisher.equals(source)) {
            close();
            receiver = new WeightReceiver(publisher, WeightPublisher.DEFAULT_CHUNK_BYTES, transport);
            source = publisher;
        }
        return receiver;
    }

    @Override
    public void close() {
        if (receiver != null) {
            receiver.close();
            receiver = null;
            source = null;
        }
    }
}
