package dev.dice.gpu;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;

/**
 * Replaces a file all at once: write a sibling temp file, then rename it over the target. A crash mid-write
 * leaves the previous checkpoint intact, and a reader that still has the old file memory-mapped keeps a
 * valid mapping (it holds the old inode) instead of getting SIGBUS from a truncated file. The temp file is created
 * like any other file (the process's umask decides its permissions, not {@code createTempFile}'s owner-only 0600), so
 * a checkpoint can be read by whoever may read its directory.
 */
public final class AtomicFiles {

    @FunctionalInterface
    interface Body {
        void writeTo(FileChannel out) throws IOException;
    }

    private static final SecureRandom RANDOM = new SecureRandom();

    private AtomicFiles() {}

    static void write(Path target, Body body) {
        Pending pending = begin(target);
        boolean written = false;
        try {
            body.writeTo(pending.out);
            written = true;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target, e);
        } finally {
            if (!written) {
                pending.abandon();
            }
        }
        pending.commit();
    }

    /**
     * A file written piece by piece (a file that arrives over the network in parts) and then put in place at once by
     * {@link Pending#commit}; {@link Pending#abandon} removes what was written.
     */
    public static Pending begin(Path target) {
        Path dir = target.toAbsolutePath().getParent();
        try {
            Files.createDirectories(dir);
            Path temp = dir.resolve("." + target.getFileName() + "." + Long.toHexString(RANDOM.nextLong()) + ".tmp");
            return new Pending(target, temp, FileChannel.open(temp, StandardOpenOption.WRITE,
                    StandardOpenOption.CREATE_NEW));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target, e);
        }
    }

    /** A file {@link #begin} started: its temp file is open until committed or abandoned. */
    public static final class Pending {
        private final Path target;
        private final Path temp;
        private final FileChannel out;

        private Pending(Path target, Path temp, FileChannel out) {
            this.target = target;
            this.temp = temp;
            this.out = out;
        }

        public void append(ByteBuffer bytes) {
            try {
                while (bytes.hasRemaining()) {
                    out.write(bytes);
                }
            } catch (IOException e) {
                abandon();
                throw new UncheckedIOException("cannot write " + target, e);
            }
        }

        public void commit() {
            try {
                out.force(true);
                out.close();
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                abandon();
                throw new UncheckedIOException("cannot write " + target, e);
            }
        }

        public void abandon() {
            try {
                out.close();
                Files.deleteIfExists(temp);
            } catch (IOException ignored) {
                // a temp file left behind is hidden (a dot file) and replaced by the next attempt's
            }
        }
    }

    static void writeBytes(Path target, byte[] bytes) {
        write(target, out -> {
            ByteBuffer buffer = ByteBuffer.wrap(bytes);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
        });
    }
}
