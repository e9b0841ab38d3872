package dev.dice.coordinator;

import com.fasterxml.jackson.annotation.JsonInclude;
import dev.dice.algo.Pair;
import dev.dice.files.RoundFiles.PairRow;
import dev.dice.files.RoundFiles.ScoredRow;
import dev.dice.files.RoundFiles;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The files a stage writes beside its model, a record a line: a round's {@code scored.jsonl} and {@code pairs.jsonl}
 * ({@link RoundFiles}), every stage's {@code eval.jsonl} (its responses to the eval prompts) and the SFT stage's
 * {@code baseline.jsonl} (π0's: the fixed baseline).
 */
final class StageFiles {

    /** A line of {@code eval.jsonl} and {@code baseline.jsonl}; the judge's true quality in eval.jsonl when judged. */
    record EvalRow(String promptId, String response, int tokens, boolean endedOnEos,
            @JsonInclude(JsonInclude.Include.NON_NULL) Double quality) {}

    private final RunDirectory dir;

    StageFiles(RunDirectory dir) {
        this.dir = dir;
    }

    /** Writes a round's {@code scored.jsonl}; returns the response texts by (prompt id, sample). */
    Map<String, String> writeScored(String round, List<ScoredShard> scored) {
        Map<String, String> texts = new HashMap<>();
        List<ScoredRow> rows = new ArrayList<>();
        for (ScoredShard shard : scored) {
            for (ScoredResponse s : shard.getResponsesList()) {
                Response r = s.getResponse();
                texts.put(Evaluation.key(r.getPromptId(), r.getSample()), r.getText());
                rows.add(new ScoredRow(r.getPromptId(), r.getSample(), r.getText(), r.getTokens(), r.getText().length(),
                        s.getLogpPolicy(), s.getLogpRef(), r.getEndedOnEos(), r.getValid()));
            }
        }
        Jsonl.write(dir.stage(round).resolve(RoundFiles.SCORED), rows);
        return texts;
    }

    /** Writes a round's {@code pairs.jsonl}; {@code texts} by (prompt id, sample), as {@link #writeScored} gave them. */
    void writePairs(String round, List<Pair> pairs, Map<String, String> texts) {
        List<PairRow> rows = new ArrayList<>();
        for (Pair pair : pairs) {
            rows.add(new PairRow(pair.promptId(), texts.get(Evaluation.key(pair.promptId(), pair.chosen().sample())),
                    texts.get(Evaluation.key(pair.promptId(), pair.rejected().sample())), pair.chosen().sample(),
                    pair.rejected().sample(), pair.chosen().length(), pair.rejected().length(), pair.chosen().reward(),
                    pair.rejected().reward()));
        }
        Jsonl.write(dir.stage(round).resolve(RoundFiles.PAIRS), rows);
    }

    /** Writes a stage's {@code eval.jsonl}; {@code quality} gives a response's true quality, or null unjudged. */
    void writeEval(String stage, List<Response> responses, Function<Response, Double> quality) {
        List<EvalRow> rows = new ArrayList<>();
        for (Response r : responses) {
            rows.add(new EvalRow(r.getPromptId(), r.getText(), r.getTokens(), r.getEndedOnEos(), quality.apply(r)));
        }
        Jsonl.write(dir.stage(stage).resolve("eval.jsonl"), rows);
    }

    void writeBaseline(List<Response> responses) {
        List<EvalRow> rows = new ArrayList<>();
        for (Response r : responses) {
            rows.add(new EvalRow(r.getPromptId(), r.getText(), r.getTokens(), r.getEndedOnEos(), null));
        }
        Jsonl.write(baselineFile(), rows);
    }

    /** π0's responses to the eval prompts, or null before they are sampled. */
    List<Response> readBaseline() {
        if (!Files.exists(baselineFile())) {
            return null;
        }
        return Jsonl.read(baselineFile(), (node, where) -> Response.newBuilder().setPromptId(node.get("prompt_id").asText())
                .setText(node.get("response").asText()).setTokens(node.get("tokens").asInt())
                .setEndedOnEos(node.get("ended_on_eos").asBoolean()).build());
    }

    private Path baselineFile() {
        return dir.stage("sft").resolve("baseline.jsonl");
    }
}
