package dev.dice.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * This process's resident memory as the operating system counts it (Linux {@code /proc/self/status}): what is
 * resident now (VmRSS) and the peak since the last {@link #resetPeak} (VmHWM). Everything counts: the Java heap,
 * native tensors, thread stacks, the allocator's kept blocks.
 */
final class ResidentMemory {
    private static final Path STATUS = Path.of("/proc/self/status");

    private ResidentMemory() {}

    static long now() {
        return field("VmRSS");
    }

    static long peak() {
        return field("VmHWM");
    }

    /** Resets the peak to what is resident now (writing 5 to /proc/self/clear_refs, Linux 4.0 and later). */
    static void resetPeak() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reset the resident peak (/proc/self/clear_refs)", e);
        }
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith(name + ":")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + STATUS, e);
        }
        throw new IllegalStateException("no " + name + " in " + STATUS);
    }
}
