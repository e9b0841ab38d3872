package dev.dice.gpu.collective;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.FloatBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** What crosses the wire on a ring link: the HTTP/2 DATA frames, read by a relay between two ranks. */
class BulkLinkFramesTest {
    static {
        Ranks.quietTransport();
    }

    private static final int FLOATS = 1 << 20; // 4 MiB

    private static float[] input(int rank) {
        float[] x = new float[FLOATS];
        for (int i = 0; i < FLOATS; i++) {
            x[i] = (i % 1000) * 0.25f + rank;
        }
        return x;
    }

    @Test
    void fourMebibytesCrossARingLinkInAHandfulOfLargeDataFrames() throws Exception {
        List<String> members = Ranks.loopback(2);
        try (Relay relay = new Relay(members.get(1))) {
            // rank 0 reaches rank 1 through the relay; rank 1 reaches rank 0 directly
            List<String> viaRelay = List.of(members.get(0), "127.0.0.1:" + relay.port());
            // a link's first bytes may leave before the peer's setting arrives: count on a link that is up
            CyclicBarrier linksUp = new CyclicBarrier(2, relay::restartCount);
            List<float[]> out = Ranks.all(Ranks.run(2, rank -> {
                float[] x = input(rank);
                try (RingAllReduce ring = new RingAllReduce(rank == 0 ? viaRelay : members, rank,
                        RingAllReduce.Settings.of(Duration.ofSeconds(20)))) {
                    ring.allReduceMean(FloatBuffer.wrap(input(rank)));
                    linksUp.await(20, TimeUnit.SECONDS);
                    ring.allReduceMean(FloatBuffer.wrap(x));
                } catch (InterruptedException | BrokenBarrierException | TimeoutException e) {
                    throw new AssertionError(e);
                }
                return x;
            }), 60);
            for (int i = 0; i < FLOATS; i++) {
                assertEquals((i % 1000) * 0.25f + 0.5f, out.get(0)[i], "element " + i);
            }
            // rank 0 sent its half of the buffer in the reduce-scatter and its finished half in the all-gather:
            // 4 MiB, which in HTTP/2's default 16 KiB frames would take at least 256 of them
            assertTrue(relay.dataBytes.get() >= 4 << 20, relay.dataBytes + " bytes of DATA");
            assertTrue(relay.dataFrames.get() <= 32, relay.dataFrames + " DATA frames for " + relay.dataBytes
                    + " bytes, the largest " + relay.largestFrame + " bytes");
            assertTrue(relay.largestFrame.get() > 16 << 10, "largest DATA frame " + relay.largestFrame + " bytes");
        }
    }

    /**
     * Forwards one TCP connection to {@code target}, reading the client's bytes as HTTP/2 frames: the 24-byte
     * connection preface, then frames of a 9-byte header (24-bit length, type, flags, stream) and a payload.
     */
    private static final class Relay implements AutoCloseable {
        private static final int PREFACE_BYTES = 24;
        private static final int DATA = 0;

        final AtomicInteger dataFrames = new AtomicInteger();
        final AtomicInteger dataBytes = new AtomicInteger();
        final AtomicInteger largestFrame = new AtomicInteger();
        private final ServerSocket listener;
        private final Thread acceptor;
        private volatile Socket client;
        private volatile Socket server;

        Relay(String target) throws IOException {
            int colon = target.lastIndexOf(':');
            String host = target.substring(0, colon);
            int port = Integer.parseInt(target.substring(colon + 1));
            listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
            acceptor = new Thread(() -> {
                try {
                    client = listener.accept();
                    server = connect(host, port);
                    Thread back = new Thread(() -> pipe(server, client), "relay-back");
                    back.setDaemon(true);
                    back.start();
                    forwardFrames(client.getInputStream(), server.getOutputStream());
                } catch (IOException e) {
                    // the ring closed the link, or the target never came up: the ranks see the link fail
                }
                closeLinks();
            }, "relay");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        /** The target rank may still be starting its server. */
        private static Socket connect(String host, int port) throws IOException {
            for (int attempt = 1; ; attempt++) {
                try {
                    return new Socket(host, port);
                } catch (ConnectException e) {
                    if (attempt == 100) {
                        throw e;
                    }
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException interrupted) {
                        throw new IOException(interrupted);
                    }
                }
            }
        }

        void restartCount() {
            dataFrames.set(0);
            dataBytes.set(0);
            largestFrame.set(0);
        }

        int port() {
            return listener.getLocalPort();
        }

        private void forwardFrames(InputStream in, OutputStream out) throws IOException {
            byte[] preface = in.readNBytes(PREFACE_BYTES);
            out.write(preface);
            while (true) {
                byte[] header = in.readNBytes(9);
                if (header.length < 9) {
                    return;
                }
                int length = (header[0] & 0xff) << 16 | (header[1] & 0xff) << 8 | header[2] & 0xff;
                byte[] payload = in.readNBytes(length);
                if (header[3] == DATA) {
                    dataFrames.incrementAndGet();
                    dataBytes.addAndGet(length);
                    largestFrame.accumulateAndGet(length, Math::max);
                }
                out.write(header);
                out.write(payload);
                out.flush();
            }
        }

        private static void pipe(Socket from, Socket to) {
            try {
                from.getInputStream().transferTo(to.getOutputStream());
            } catch (IOException e) {
                // the ring closed the link
            }
        }

        private void closeLinks() {
            for (Socket s : new Socket[] {client, server}) {
                try {
                    if (s != null) {
                        s.close();
                    }
                } catch (IOException e) {
                    // closing anyway
                }
            }
        }

        @Override
        public void close() throws IOException {
            listener.close();
            closeLinks();
        }
    }
}
