package dev.dice.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.typed.BackoffSupervisorStrategy;
import org.apache.pekko.actor.typed.SupervisorStrategy;

/**
 * Where the event journal lives: an H2 file in the run directory (the embedded default) or a PostgreSQL
 * server. {@link #createSchema} applies the DDL that ships inside pekko-persistence-jdbc, made idempotent.
 */
public record Journal(String kind, String url, String user, String password) {

    /**
     * Restarts in a row an event-sourced actor gets when the journal fails (backoff 0.2 s doubling to 5 s: about 11 s
     * when each attempt fails at once, under a minute when each waits for the pool's 5 s connection timeout). A
     * database that restarts recovers within them; a full disk or a database that is gone does not, and the actor then
     * fails the run instead of restarting forever.
     */
    public static final int MAX_RESTARTS = 6;

    /** Backoff restarts for an event-sourced actor on this journal, limited as {@link #MAX_RESTARTS} says. */
    public static BackoffSupervisorStrategy restarts() {
        // Failures that each take a while (a connection timeout) would otherwise reset the count between them.
        return SupervisorStrategy.restartWithBackoff(Duration.ofMillis(200), Duration.ofSeconds(5), 0.2)
                .withMaxRestarts(MAX_RESTARTS).withResetBackoffAfter(Duration.ofSeconds(30));
    }

    /** The H2 file {@code replay.mv.db} in {@code dir} (a run's {@code journal/} directory). */
    public static Journal h2(Path dir) {
        // AUTO_SERVER lets a second JVM (a restarted node, an inspection tool) open the same file. WRITE_DELAY=0:
        // H2 otherwise keeps commits of the last 500 ms in memory, and a killed process loses pairs it acknowledged
        // (ReplayCrashTest).
        return new Journal("h2", "jdbc:h2:file:" + dir.toAbsolutePath().resolve("replay")
                + ";AUTO_SERVER=TRUE;WRITE_DELAY=0", "sa", "");
    }

    public static Journal postgres(String url, String user, String password) {
        return new Journal("postgres", url, user, password);
    }

    String driver() {
        return kind.equals("postgres") ? "org.postgresql.Driver" : "org.h2.Driver";
    }

    /** Pekko settings pointing the journal and snapshot store at this database. */
    public Config pekkoConfig() {
        String prefix = "pekko-persistence-jdbc.shared-databases.dice.";
        return ConfigFactory.parseMap(Map.of(
                prefix + "profile", kind.equals("postgres") ? "slick.jdbc.PostgresProfile$" : "slick.jdbc.H2Profile$",
                prefix + "db.url", url,
                prefix + "db.user", user,
                prefix + "db.password", password,
                prefix + "db.driver", driver()));
    }

    public void createSchema() {
        String resource = kind.equals("postgres") ? "schema/postgres/postgres-create-schema.sql"
                : "schema/h2/h2-create-schema.sql";
        String ddl;
        try (InputStream in = Journal.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("pekko-persistence-jdbc DDL not on the classpath: " + resource);
            }
            ddl = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // The shipped DDL creates its tables "IF NOT EXISTS" but some indexes without it.
        ddl = ddl.replaceAll("(?i)CREATE (UNIQUE )?INDEX (CONCURRENTLY )?(?!IF NOT EXISTS)", "CREATE $1INDEX $2IF NOT EXISTS ");
        for (int attempt = 1; ; attempt++) {
            try (Connection c = DriverManager.getConnection(url, user, password); Statement s = c.createStatement()) {
                for (String statement : ddl.split(";")) {
                    if (!statement.isBlank()) {
                        s.execute(statement);
                    }
                }
                return;
            } catch (SQLException e) {
                // Two nodes opening the H2 file at once: the second finds it locked before the first serves it
                // (AUTO_SERVER) and succeeds a moment later.
                if (e.getErrorCode() != H2_LOCKED || attempt == 20) {
                    throw new IllegalStateException("journal " + url + ": cannot create the schema: " + e.getMessage(), e);
                }
            }
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
    }

    /** H2's "database may be already in use" (ErrorCode.DATABASE_ALREADY_OPEN_1). */
    private static final int H2_LOCKED = 90020;
}
