package dev.dice.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ShapedLinkTest {
    private static final int BYTES = 1 << 20;

    /** A server that answers any byte with {@code reply}; returns what a client read back through a link. */
    private static byte[] roundTrip(byte[] reply, long bytesPerSecond, long[] sentAndNanos) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ShapedLink link = new ShapedLink(server.getLocalPort(), bytesPerSecond)) {
            Thread serve = new Thread(() -> {
                try (Socket s = server.accept(); InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
                    in.read();
                    out.write(reply);
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            serve.start();
            byte[] got = new byte[reply.length];
            try (Socket client = new Socket(InetAddress.getLoopbackAddress(), link.port())) {
                long start = System.nanoTime();
                client.getOutputStream().write(1);
                InputStream in = client.getInputStream();
                int n = 0;
                while (n < got.length) {
                    n += in.read(got, n, got.length - n);
                }
                sentAndNanos[1] = System.nanoTime() - start;
            }
            serve.join();
            sentAndNanos[0] = link.bytesSent();
            return got;
        }
    }

    @Test
    void forwardsEveryByteAndCountsWhatTheNodeSent() throws Exception {
        byte[] reply = new byte[BYTES];
        new Random(1).nextBytes(reply);
        long[] sentAndNanos = new long[2];
        assertArrayEquals(reply, roundTrip(reply, 0, sentAndNanos));
        assertEquals(BYTES, sentAndNanos[0]);
    }

    @Test
    void sendsNoFasterThanItsRate() throws Exception {
        byte[] reply = new byte[BYTES];
        new Random(2).nextBytes(reply);
        long[] sentAndNanos = new long[2];
        assertArrayEquals(reply, roundTrip(reply, 4L * BYTES, sentAndNanos));
        assertEquals(BYTES, sentAndNanos[0]);
        assertTrue(sentAndNanos[1] >= 200_000_000L, "1 MiB at 4 MiB/s takes 0.25 s, less at most one 64 KiB"
                + " read ahead: " + sentAndNanos[1] / 1e6 + " ms");
    }

    /** A client of a link whose target is not listening sees the connection closed (and can retry), not silence. */
    @Test
    void closesTheClientWhenTheTargetIsNotListening() throws Exception {
        int port;
        try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = gone.getLocalPort();
        }
        try (ShapedLink link = new ShapedLink(port, 0, true);
                Socket client = new Socket(InetAddress.getLoopbackAddress(), link.port())) {
            client.setSoTimeout(10_000);
            assertEquals(-1, client.getInputStream().read());
        }
    }
}
