package dev.dice.files;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import dev.dice.algo.Candidate;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A round's files beside its model, a record a line: {@code scored.jsonl} (every sampled response with its two
 * log-probs) and {@code pairs.jsonl} (the selected pairs). The coordinator writes them, the report reads them back.
 */
public final class RoundFiles {
    public static final String SCORED = "scored.jsonl";
    public static final String PAIRS = "pairs.jsonl";
    /** Reads a line's fields by name; fields it does not know are passed over. */
    private static final ObjectMapper LINE = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    private RoundFiles() {}

    /** A line of {@code scored.jsonl}: lengths in tokens and characters, log-probs summed over the response. */
    public record ScoredRow(String promptId, int sample, String response, int tokens, int chars, double logpPolicy,
            double logpRef, boolean endedOnEos, boolean valid) {
        /** The response as the selection sees it: its length in tokens, as the reward-shaping actor used. */
        public Candidate candidate() {
            return new Candidate(promptId, sample, logpPolicy, logpRef, tokens, valid);
        }
    }

    /** A line of {@code pairs.jsonl}: the chosen and rejected responses, their samples, lengths and rewards. */
    public record PairRow(String promptId, String chosen, String rejected, int chosenSample, int rejectedSample,
            int chosenTokens, int rejectedTokens, double chosenReward, double rejectedReward) {}

    /** The rows of a round's {@code scored.jsonl}; a malformed line is named by file and line. */
    public static List<ScoredRow> readScored(Path file) {
        List<ScoredRow> out = new ArrayList<>();
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            try {
                out.add(LINE.readValue(lines.get(i), ScoredRow.class));
            } catch (IOException e) {
                throw new UncheckedIOException(file + ":" + (i + 1) + ": malformed JSON", e);
            }
        }
        return out;
    }
}
