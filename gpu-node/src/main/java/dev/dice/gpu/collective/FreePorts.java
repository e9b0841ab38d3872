package dev.dice.gpu.collective;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Ports for servers whose address others must know before the server starts: cluster seed nodes, ring members,
 * metrics endpoints. A port is found by binding port 0 and released for its server to bind, so another process can
 * still take it in between; what this class rules out is a process racing itself: the ports of one call are held
 * together until all are found, and no port is handed out twice in one JVM.
 */
public final class FreePorts {
    private static final Set<Integer> GIVEN = ConcurrentHashMap.newKeySet();
    private static final int ATTEMPTS = 1000;

    private FreePorts() {}

    /** One free port on loopback. */
    public static int loopback() {
        return on(InetAddress.getLoopbackAddress(), 1).get(0);
    }

    /** {@code n} distinct free ports on loopback, as {@code 127.0.0.1:port} addresses. */
    public static List<String> loopbackAddresses(int n) {
        return on(InetAddress.getLoopbackAddress(), n).stream().map(port -> "127.0.0.1:" + port).toList();
    }

    /** {@code n} distinct ports free on {@code host} now and not handed out before by this JVM. */
    public static List<Integer> on(InetAddress host, int n) {
        List<ServerSocket> held = new ArrayList<>();
        List<Integer> ports = new ArrayList<>();
        try {
            for (int attempt = 0; ports.size() < n; attempt++) {
                if (attempt == ATTEMPTS) {
                    throw new IllegalStateException("no " + n + " free ports on " + host + " after " + ATTEMPTS
                            + " attempts");
                }
                ServerSocket socket = new ServerSocket(0, 1, host);
                held.add(socket); // held until the call ends, so the system cannot hand it out again meanwhile
                if (GIVEN.add(socket.getLocalPort())) {
                    ports.add(socket.getLocalPort());
                }
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on " + host, e);
        } finally {
            for (ServerSocket socket : held) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // closing a listening socket that never accepted: nothing is lost
                }
            }
        }
    }
}
