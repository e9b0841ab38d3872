package dev.dice.coordinator;

import dev.dice.algo.Pair;
import dev.dice.algo.WinRates;
import dev.dice.proto.Response;
import dev.dice.task.Judge;
import dev.dice.task.Prompt;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** The evaluation metrics of a stage, computed with the hidden judge; pure functions of responses. */
final class Evaluation {
    private Evaluation() {}

    /** Win rates against the fixed baseline (π0's responses), quality and length on the held-out prompts. */
    record Scores(Double winRate, Double lcWinRate, Double quality, double meanLength) {}

    /**
     * {@code responses} and {@code baseline} hold one response per prompt, in prompt order. A response that hit
     * the token limit gets quality 0 (it never finished).
     */
    static Scores score(List<Prompt> prompts, List<Response> responses, List<Response> baseline, Judge judge) {
        int n = prompts.size();
        double[] p = new double[n];
        double[] lengthDiff = new double[n];
        double quality = 0;
        double length = 0;
        for (int i = 0; i < n; i++) {
            Response mine = responses.get(i);
            Response base = baseline.get(i);
            double q = judge.quality(prompts.get(i), mine.getText(), mine.getEndedOnEos());
            double qBase = judge.quality(prompts.get(i), base.getText(), base.getEndedOnEos());
            p[i] = judge.preference(q, mine.getText().length(), qBase, base.getText().length());
            lengthDiff[i] = mine.getText().length() - base.getText().length();
            quality += q;
            length += mine.getTokens();
        }
        return new Scores(WinRates.raw(p), WinRates.lengthControlled(p, lengthDiff).lcWinRate(), quality / n,
                length / n);
    }

    /** Mean length only: what is left without a judge (bring-your-own prompts). */
    static Scores lengthOnly(List<Response> responses) {
        return new Scores(null, null, null, responses.stream().mapToInt(Response::getTokens).average().orElse(0));
    }

    /**
     * Share of candidate pairs of one prompt, with different true quality, that the implicit reward orders like
     * the length-free judge (quality alone). {@code rewards[i][j]}, {@code qualities[i][j]}: prompt i, candidate j.
     */
    static double rewardAgreement(double[][] rewards, double[][] qualities) {
        int agree = 0;
        int pairs = 0;
        for (int i = 0; i < rewards.length; i++) {
            for (int a = 0; a < rewards[i].length; a++) {
                for (int b = a + 1; b < rewards[i].length; b++) {
                    double dq = qualities[i][a] - qualities[i][b];
                    if (Math.abs(dq) < 1e-9) {
                        continue;
                    }
                    pairs++;
                    if (Math.signum(rewards[i][a] - rewards[i][b]) == Math.signum(dq)) {
                        agree++;
                    }
                }
            }
        }
        return pairs == 0 ? Double.NaN : agree / (double) pairs;
    }

    /** Fractions of generated pairs whose chosen response is better / worse / as good under the hidden quality. */
    static double[] pairAccuracy(List<Pair> pairs, Function<String, Prompt> prompts, Map<String, String> texts,
            Judge judge) {
        double better = 0;
        double worse = 0;
        for (Pair pair : pairs) {
            Prompt prompt = prompts.apply(pair.promptId());
            double qc = judge.quality(prompt, texts.get(key(pair.promptId(), pair.chosen().sample())), true);
            double qr = judge.quality(prompt, texts.get(key(pair.promptId(), pair.rejected().sample())), true);
            if (qc > qr + 1e-9) {
                better++;
            } else if (qr > qc + 1e-9) {
                worse++;
            }
        }
        int n = Math.max(1, pairs.size());
        return new double[] {better / n, worse / n, (pairs.size() - better - worse) / n};
    }

    static String key(String promptId, int sample) {
        return promptId + "#" + sample;
    }
}
