package dev.dice.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** A benchmark's child JVM; its stdout goes to a file, so a chatty child can never block on a full pipe. */
record ChildProcess(Process process, Path stdout) {

    static ChildProcess start(List<String> command, Map<String, String> environment) {
        try {
            Path stdout = Files.createTempFile("dice-bench-", ".out");
            stdout.toFile().deleteOnExit();
            ProcessBuilder builder = new ProcessBuilder(command).redirectOutput(stdout.toFile())
                    .redirectError(ProcessBuilder.Redirect.INHERIT);
            builder.environment().putAll(environment);
            return new ChildProcess(builder.start(), stdout);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + command, e);
        }
    }

    /**
     * Waits for every child and returns the rest of each one's last line starting with {@code prefix}, in order. If
     * one fails, the others are stopped at once (they would otherwise wait out their collective timeout).
     */
    static List<String> results(List<ChildProcess> children, String prefix, String what) {
        try {
            boolean running = true;
            while (running) {
                running = false;
                for (ChildProcess c : children) {
                    if (c.process().isAlive()) {
                        running = true;
                    } else if (c.process().exitValue() != 0) {
                        children.forEach(other -> other.process().destroyForcibly());
                        throw new IllegalStateException(what + ": a child exited with code " + c.process().exitValue()
                                + " (its error is above)");
                    }
                }
                Thread.sleep(20);
            }
            List<String> out = new ArrayList<>();
            for (ChildProcess c : children) {
                String result = null;
                for (String line : Files.readAllLines(c.stdout(), StandardCharsets.UTF_8)) {
                    if (line.startsWith(prefix)) {
                        result = line.substring(prefix.length());
                    }
                }
                if (result == null) {
                    throw new IllegalStateException(what + ": a child exited without a result");
                }
                out.add(result);
                Files.deleteIfExists(c.stdout());
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            children.forEach(c -> c.process().destroyForcibly());
            throw new IllegalStateException(what + ": interrupted", e);
        }
    }
}
