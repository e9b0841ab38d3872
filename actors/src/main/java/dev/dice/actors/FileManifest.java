package dev.dice.actors;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The files a {@link FileServer} serves, each by its path relative to the served directory, its size, SHA-256 and
 * modification time (milliseconds; a copy keeps it, as a run tells its checkpoints' versions apart by it);
 * {@code token} names the served directory (null when it is not a directory of the run): a node that finds the same
 * token in its own {@link #TOKEN_FILE} shares that directory and has nothing to fetch.
 */
public record FileManifest(String token, List<Entry> files) implements Wire {

    /** Written by a server of a whole directory into it; never served. */
    public static final String TOKEN_FILE = ".dice-files-token";

    public record Entry(String path, long size, String sha256, long modified) implements Wire {
        /** Whether {@code other} has the same contents (size and digest). */
        public boolean sameContents(Entry other) {
            return other != null && size == other.size && sha256.equals(other.sha256);
        }
    }

    /** Digests by file (its inode, size and modification time): a checkpoint is hashed once, not once a request. */
    private static final Map<Object, String> DIGESTS = new ConcurrentHashMap<>();

    /**
     * The entries of {@code remote} that {@code local} (what this node holds, by path) lacks or holds with another
     * size or digest, in {@code remote}'s order.
     */
    public static List<Entry> wanted(List<Entry> remote, Map<String, Entry> local) {
        List<Entry> wanted = new ArrayList<>();
        for (Entry e : remote) {
            if (!e.sameContents(local.get(e.path()))) {
                wanted.add(e);
            }
        }
        return wanted;
    }

    /**
     * Whether {@code path} names a file inside a directory: relative, '/'-separated, no empty, "." or ".." part and no
     * hidden (dot) file, which is where temporary files and the token live.
     */
    public static boolean plain(String path) {
        if (path.isEmpty() || path.startsWith("/") || path.contains("\\")) {
            return false;
        }
        for (String part : path.split("/", -1)) {
            if (part.isEmpty() || part.startsWith(".")) {
                return false;
            }
        }
        return true;
    }

    /** The entry of {@code file} as {@code path}, its digest computed once per version of the file. */
    public static Entry entry(String path, Path file) {
        try {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            List<Object> key = List.of(file.toAbsolutePath().normalize().toString(),
                    Objects.requireNonNullElse(attributes.fileKey(), ""), attributes.size(),
                    attributes.lastModifiedTime().toMillis());
            String sha256 = DIGESTS.get(key);
            if (sha256 == null) {
                sha256 = sha256(file);
                DIGESTS.put(key, sha256);
            }
            return new Entry(path, attributes.size(), sha256, attributes.lastModifiedTime().toMillis());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** The SHA-256 of {@code file}'s contents, in hex. */
    public static String sha256(Path file) {
        MessageDigest digest = newDigest();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), digest)) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK always has SHA-256", e);
        }
    }
}
