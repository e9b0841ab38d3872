package dev.dice.actors;

import ai.djl.ndarray.NDManager;
import dev.dice.gpu.Tokenizer;
import dev.dice.gpu.collective.CollectiveException;
import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.WeightRelay;
import dev.dice.gpu.collective.WeightSnapshot;
import dev.dice.ops.DiceMetrics;
import dev.dice.work.Policy;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.slf4j.Logger;

/**
 * How a generator or scorer takes a newly trained model: through the trainer's weight relay ({@link WeightRelay}:
 * the trainer sends each version once; every worker fetches it from the worker before it, serves it on to the next
 * and, when that one fails, resumes from an earlier one or the trainer) and verified (CRC32C per chunk and of the
 * whole; the actor compares the SHA-256) — or, when that fails, read from the checkpoint the trainer wrote (on a
 * node without it: fetched from the coordinator's node, see {@link ModelSource}). One relay per publisher, reused
 * while the publisher stays the same; it serves the last version it fetched.
 */
final class WeightFetch implements AutoCloseable {
    /** How long a parent may send nothing before its child fetches from an earlier node instead. */
    static final Duration STALL = Duration.ofSeconds(10);

    private final Logger log;
    private final GrpcTransport transport;
    private final String host;
    private WeightRelay relay;
    private String source;

    /** Fetches over {@code context}'s node transport: plaintext, or mutual TLS when {@code dice.tls} is on. */
    WeightFetch(ActorContext<?> context) {
        this.log = context.getLog();
        this.transport = NodeTls.from(context.getSystem().settings().config()).grpc();
        this.host = context.getSystem().settings().config().getString("pekko.remote.artery.canonical.hostname");
    }

    /** A policy and where it came from: the publisher's address, or the checkpoint directory. */
    record Fetched(Policy policy, String source) {}

    Fetched fetch(PublishedWeights weights, Path checkpoint, Duration timeout, Tokenizer tokenizer, NDManager device) {
        return fetch(weights, () -> new Fetched(Policy.load(checkpoint, tokenizer, device, weights.version()),
                checkpoint.toString()), timeout, tokenizer, device);
    }

    /** Fetches {@code weights}; when the fetch fails: {@code otherwise}. */
    Fetched fetch(PublishedWeights weights, Supplier<Fetched> otherwise, Duration timeout, Tokenizer tokenizer,
            NDManager device) {
        long start = System.nanoTime();
        try {
            WeightRelay.Fetched fetched = relayFor(weights.publisher()).fetch(weights.version(), timeout);
            WeightSnapshot snapshot = fetched.snapshot();
            if (fetched.reroutes() > 0) {
                log.warn("weight relay of v{}: {} parent(s) failed on the way; resumed from an earlier node each time",
                        weights.version(), fetched.reroutes());
            }
            if (snapshot.version() != weights.version()) {
                throw new CollectiveException("the publisher serves v" + snapshot.version() + ", not v" + weights.version());
            }
            Policy policy;
            try {
                policy = Policy.of(snapshot, weights.config(), tokenizer, device);
            } finally {
                snapshot.release(); // the relay keeps serving it on until the next version
            }
            DiceMetrics.get().recordWeightSync(weights.version(), (System.nanoTime() - start) / 1e9);
            return new Fetched(policy, weights.publisher() + " (relayed, serving on at " + relay.address() + ") in "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
        } catch (CollectiveException e) {
            log.warn("weight fetch of v{} from {} failed ({}); falling back", weights.version(), weights.publisher(),
                    e.getMessage());
            return otherwise.get();
        }
    }

    private WeightRelay relayFor(String publisher) {
        if (!publisher.equals(source)) {
            close();
            relay = WeightRelay.on(host, publisher, transport, STALL);
            source = publisher;
        }
        return relay;
    }

    @Override
    public void close() {
        if (relay != null) {
            relay.close();
            relay = null;
            source = null;
        }
    }
}
