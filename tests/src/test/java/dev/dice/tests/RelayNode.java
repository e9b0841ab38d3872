package dev.dice.tests;

import dev.dice.gpu.collective.GrpcTransport;
import dev.dice.gpu.collective.WeightRelay;
import java.time.Duration;

/**
 * A generator node's weight sync in its own JVM, for {@link RelayedWeightSyncTest}: relays versions 1..N from rank 0
 * and prints {@code RELAY <address>}, then per version {@code DONE <version> <crc32c> <sha256> <reroutes>}; then
 * serves what it holds until its stdin closes.
 *   args: ROOT_HOST:PORT VERSIONS STALL_MS
 */
public final class RelayNode {
    private RelayNode() {}

    public static void main(String[] args) throws Exception {
        int versions = Integer.parseInt(args[1]);
        try (WeightRelay relay = WeightRelay.on("127.0.0.1", args[0], GrpcTransport.PLAINTEXT,
                Duration.ofMillis(Long.parseLong(args[2])))) {
            System.out.println("RELAY " + relay.address());
            for (long v = 1; v <= versions; v++) {
                WeightRelay.Fetched f = relay.fetch(v, Duration.ofSeconds(120));
                System.out.println(String.format("DONE %d %08x %s %d", f.snapshot().version(), f.snapshot().crc32c(),
                        f.snapshot().sha256Hex(), f.reroutes()));
            }
            while (System.in.read() >= 0) {
                // children may still be fetching from this node
            }
        }
        System.exit(0);
    }
}
