package dev.dice.bench;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A node's network uplink on loopback: a TCP forwarder in front of one of the node's servers whose replies (what the
 * node sends) leave at most {@code bytesPerSecond} in total, however many connections share it, as through one NIC.
 * Loopback alone has no such limit, only the cores, so without it a benchmark of who sends how many copies would
 * measure the CPU instead of the links. Requests pass unshaped (unless the link shapes requests instead: the uplink of
 * the one client in front of the server, such as a ring rank streaming to its neighbour); 0 bytes per second forwards
 * unshaped both ways.
 */
public final class ShapedLink implements AutoCloseable {
    private static final int BUFFER = 64 << 10;

    private final InetSocketAddress target;
    private final long bytesPerSecond;
    private final boolean requests;
    private final ServerSocket listener;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();
    private final AtomicLong sent = new AtomicLong();
    private long nextFree; // guarded by this: when the link is free to send again (System.nanoTime)

    public ShapedLink(int targetPort, long bytesPerSecond) {
        this(targetPort, bytesPerSecond, false);
    }

    /** @param requests shape what clients send through the link instead of what the target replies */
    public ShapedLink(int targetPort, long bytesPerSecond, boolean requests) {
        this.requests = requests;
        this.target = new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort);
        this.bytesPerSecond = bytesPerSecond;
        try {
            listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new IllegalStateException("shaped link: cannot listen on loopback", e);
        }
        Thread accept = new Thread(this::accept, "shaped-link-" + listener.getLocalPort());
        accept.setDaemon(true);
        accept.start();
    }

    /** Where clients connect instead of the target's port. */
    public int port() {
        return listener.getLocalPort();
    }

    /** Bytes the node has sent through this link so far. */
    public long bytesSent() {
        return sent.get();
    }

    private void accept() {
        while (!listener.isClosed()) {
            try {
                Socket client = listener.accept();
                Socket server = new Socket();
                try {
                    server.connect(target);
                } catch (IOException e) {
                    closeQuietly(client); // a target not listening yet: the client sees it closed, and retries
                    continue;
                }
                client.setTcpNoDelay(true);
                server.setTcpNoDelay(true);
                sockets.add(client);
                sockets.add(server);
                pipe(client, server, requests);
                pipe(server, client, !requests);
            } catch (IOException e) {
                // the listener closed
            }
        }
    }

    private void pipe(Socket from, Socket to, boolean shaped) {
        Thread t = new Thread(() -> {
            byte[] buffer = new byte[BUFFER];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (shaped) {
                        pace(n);
                        sent.addAndGet(n);
                    }
                    out.write(buffer, 0, n);
                }
            } catch (IOException e) {
                // one side closed: close both, as a broken link does
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, "shaped-link-pipe");
        t.setDaemon(true);
        t.start();
    }

    /** Waits until the link has had time to send {@code bytes} after everything sent before them. */
    private void pace(int bytes) {
        if (bytesPerSecond <= 0) {
            return;
        }
        long done;
        synchronized (this) {
            long start = Math.max(System.nanoTime(), nextFree);
            done = start + bytes * 1_000_000_000L / bytesPerSecond;
            nextFree = done;
        }
        long wait;
        while ((wait = done - System.nanoTime()) > 0) {
            LockSupport.parkNanos(wait);
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    @Override
    public void close() {
        try {
            listener.close();
        } catch (IOException e) {
            // closing anyway
        }
        sockets.forEach(ShapedLink::closeQuietly);
    }
}
