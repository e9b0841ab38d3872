package dev.dice.gpu.chat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalDate;
import java.time.ZoneOffset;

/** Where the repository's shared fixtures are, and the day the reference renderings were made on. */
final class ChatFixtures {

    private ChatFixtures() {}

    /** 26 July 2024, 00:00: the day strftime_now saw when tests/fixtures/chat/renderings.json was made. */
    static final Clock FIXTURE_DAY =
            Clock.fixed(LocalDate.of(2024, 7, 26).atStartOfDay(ZoneOffset.UTC).toInstant(), ZoneOffset.UTC);

    /** The repository root: Maven runs tests in the module directory, an IDE often in the root. */
    static Path repository() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isDirectory(dir.resolve("tests/fixtures/chat"))) {
                return dir;
            }
        }
        throw new IllegalStateException("tests/fixtures/chat not found above " + Path.of("").toAbsolutePath());
    }

    static Path tokenizerConfig(String model) {
        return repository().resolve("tests/fixtures/tokenizers").resolve(model).resolve("tokenizer_config.json");
    }
}
