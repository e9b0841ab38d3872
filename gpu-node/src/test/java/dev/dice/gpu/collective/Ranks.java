package dev.dice.gpu.collective;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/** Ranks as threads of one JVM, each with its own server port on loopback. */
final class Ranks {
    private Ranks() {}

    private static final java.util.logging.Logger JUL_GRPC = java.util.logging.Logger.getLogger("io.grpc");

    /** gRPC's netty logs every frame at DEBUG, and logback's default level is DEBUG: keep test output readable. */
    static void quietTransport() {
        JUL_GRPC.setLevel(java.util.logging.Level.SEVERE); // stream resets in the failure tests are expected
        for (String name : new String[] {"io.grpc", "io.netty"}) {
            org.slf4j.Logger logger = org.slf4j.LoggerFactory.getLogger(name);
            if (logger instanceof ch.qos.logback.classic.Logger l) {
                l.setLevel(ch.qos.logback.classic.Level.INFO);
            }
        }
    }

    static List<String> loopback(int world) {
        return FreePorts.loopbackAddresses(world);
    }

    /** Runs {@code body} on every rank at once; each result or failure is returned in rank order. */
    static <T> List<CompletableFuture<T>> run(int world, Function<Integer, T> body) {
        ExecutorService pool = Executors.newFixedThreadPool(world);
        List<CompletableFuture<T>> out = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            int rank = r;
            out.add(CompletableFuture.supplyAsync(() -> body.apply(rank), pool));
        }
        pool.shutdown();
        return out;
    }

    /** Every rank's result, failing the test on any error or after {@code seconds}. */
    static <T> List<T> all(List<CompletableFuture<T>> futures, int seconds) {
        List<T> results = new ArrayList<>();
        for (CompletableFuture<T> f : futures) {
            try {
                results.add(f.get(seconds, TimeUnit.SECONDS));
            } catch (ExecutionException e) {
                throw new AssertionError("a rank failed: " + e.getCause(), e.getCause());
            } catch (InterruptedException | TimeoutException e) {
                throw new AssertionError("ranks did not finish within " + seconds + " s (hang?)", e);
            }
        }
        return results;
    }
}
