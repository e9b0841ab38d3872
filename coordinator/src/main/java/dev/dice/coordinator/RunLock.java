package dev.dice.coordinator;

import dev.dice.gpu.BadInputException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/**
 * {@code <run>/run.lock}, held for the life of a run so that two runs never write one directory. {@code dice run}
 * holds it exclusively; the nodes of a cluster, which share the directory by design, hold it shared. The operating
 * system releases it when the process dies, so a lock file left by a killed run is simply taken over; the file
 * names the holder (pid, host, start) for the message that refuses a second run.
 */
public final class RunLock implements AutoCloseable {
    static final String FILE = "run.lock";
    /** Locks this JVM holds, by file: the OS lock is per process, so nodes in one JVM share one. */
    private static final Map<Path, Held> HELD = new HashMap<>();

    private final Path file;

    private RunLock(Path file) {
        this.file = file;
    }

    private record Held(FileChannel channel, FileLock lock, boolean exclusive, int[] users) {}

    /** Takes the lock of {@code runDir} (created if missing); refuses with the holder's pid and host when it is taken. */
    static RunLock acquire(Path runDir, boolean exclusive) {
        Path file;
        try {
            Files.createDirectories(runDir);
            file = runDir.resolve(FILE).toAbsolutePath().normalize();
        } catch (IOException e) {
            throw new BadInputException("dice.out (--out): cannot create " + runDir + ": " + e.getMessage());
        }
        synchronized (HELD) {
            Held held = HELD.get(file);
            if (held != null) {
                if (exclusive || held.exclusive()) {
                    throw inUse(runDir, file);
                }
                held.users()[0]++;
                return new RunLock(file);
            }
            try {
                FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
                FileLock lock;
                try {
                    lock = channel.tryLock(0, Long.MAX_VALUE, !exclusive);
                } catch (OverlappingFileLockException e) {
                    lock = null;
                }
                if (lock == null) {
                    channel.close();
                    throw inUse(runDir, file);
                }
                if (exclusive || channel.size() == 0) {
                    channel.truncate(0);
                    channel.write(ByteBuffer.wrap(holder().getBytes(StandardCharsets.UTF_8)), 0);
                    channel.force(false);
                }
                HELD.put(file, new Held(channel, lock, exclusive, new int[] {1}));
                return new RunLock(file);
            } catch (IOException e) {
                throw new UncheckedIOException(file + ": cannot lock the run directory", e);
            }
        }
    }

    private static BadInputException inUse(Path runDir, Path file) {
        String holder;
        try {
            holder = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            holder = "";
        }
        return new BadInputException(runDir + ": in use by another run (" + (holder.isEmpty() ? "holder unknown" : holder)
                + "); wait for it to end, or use another --out");
    }

    private static String holder() {
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "unknown host";
        }
        return "pid " + ProcessHandle.current().pid() + " on " + host + ", since " + Instant.now() + "\n";
    }

    @Override
    public void close() {
        synchronized (HELD) {
            Held held = HELD.get(file);
            if (held == null || --held.users()[0] > 0) {
                return;
            }
            HELD.remove(file);
            try {
                held.lock().release();
                held.channel().close();
            } catch (IOException e) {
                // The process releases it when it exits anyway.
            }
        }
    }
}
