package dev.dice.coordinator;

import java.util.Optional;

/**
 * A shard job of the run: the stage it belongs to and what it does. Its {@link #name()} is what shards, results,
 * metrics and the journal's persistence ids carry ({@code baseline}, {@code round1}, {@code eval-dpo},
 * {@code round2-replay-refs}); {@link #parse} reads a result's job back.
 */
record Job(String stage, Kind kind) {

    enum Kind {
        /** π0's responses to the eval prompts: the fixed baseline every stage is judged against. */
        BASELINE("baseline"),
        /** π0's samples of the offline prompts, to stand in D_off beside the synthetic candidates. */
        OFFLINE_SAMPLES("offline_samples"),
        /** D_off scored under π0, the DPO stage's frozen reference. */
        OFFLINE_REFS("offline_refs"),
        /** A round's K samples per prompt, generated with π_t and scored under π_t and π_{t−1}. */
        ROUND("round"),
        /** The offline pairs a round replays, scored under π_t, its DPO reference. */
        REPLAY_REFS("replay_refs"),
        /** One sample per eval prompt with the stage's model. */
        EVAL("eval"),
        /** Held-out candidates scored under the stage's model: the implicit reward's agreement with the judge. */
        AGREEMENT("agreement");

        /** The {@code job} label of the metrics. */
        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    static Job baseline() {
        return new Job("sft", Kind.BASELINE);
    }

    static Job offlineSamples() {
        return new Job("dpo", Kind.OFFLINE_SAMPLES);
    }

    static Job offlineRefs() {
        return new Job("dpo", Kind.OFFLINE_REFS);
    }

    static Job round(String stage) {
        return new Job(stage, Kind.ROUND);
    }

    static Job replayRefs(String stage) {
        return new Job(stage, Kind.REPLAY_REFS);
    }

    static Job eval(String stage) {
        return new Job(stage, Kind.EVAL);
    }

    static Job agreement(String stage) {
        return new Job(stage, Kind.AGREEMENT);
    }

    String name() {
        return switch (kind) {
            case BASELINE -> "baseline";
            case OFFLINE_SAMPLES -> "offline-samples";
            case OFFLINE_REFS -> "offline-refs";
            case ROUND -> stage;
            case REPLAY_REFS -> stage + "-replay-refs";
            case EVAL -> "eval-" + stage;
            case AGREEMENT -> "agreement-" + stage;
        };
    }

    /** The job a name stands for, or empty for a name no job of a run has. */
    static Optional<Job> parse(String name) {
        if (name.equals("baseline")) {
            return Optional.of(baseline());
        }
        if (name.equals("offline-samples")) {
            return Optional.of(offlineSamples());
        }
        if (name.equals("offline-refs")) {
            return Optional.of(offlineRefs());
        }
        if (name.startsWith("eval-")) {
            return Optional.of(eval(name.substring("eval-".length())));
        }
        if (name.startsWith("agreement-")) {
            return Optional.of(agreement(name.substring("agreement-".length())));
        }
        if (name.matches("round\\d+-replay-refs")) {
            return Optional.of(replayRefs(name.substring(0, name.length() - "-replay-refs".length())));
        }
        if (name.matches("round\\d+")) {
            return Optional.of(round(name));
        }
        return Optional.empty();
    }

    /** The {@code job} label of a job's metrics; a name that is no job of a run is its own label. */
    static String label(String name) {
        return parse(name).map(job -> job.kind().label).orElse(name.replace('-', '_'));
    }
}
