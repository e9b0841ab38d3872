package dev.dice.coordinator;

import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Candidate;
import dev.dice.algo.Pair;
import dev.dice.algo.PairSelection;
import dev.dice.algo.Stats;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.ScoredResponse;
import dev.dice.proto.ScoredShard;
import dev.dice.task.BuiltinTask;
import dev.dice.task.Judge;
import dev.dice.task.OfflinePair;
import dev.dice.task.OfflinePairs;
import dev.dice.task.Prompt;
import dev.dice.work.Seeds;
import dev.dice.work.Training;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/**
 * The bookkeeping of a run, kept out of the state machine: which prompts each job gets, what the round
 * files hold, how a stage's row is computed. Built-in task and judge, or the user's own prompts and
 * offline pairs (then {@link #judge()} is null and evaluation reports lengths and reward statistics only).
 */
final class RunPlan {
    private final RunConfig config;
    private final RunDirectory dir;
    private final BuiltinTask task;
    private final Judge judge;
    private final Path userModel;
    private final List<Prompt> evalPrompts;
    private final Map<String, Prompt> promptsById = new HashMap<>();
    /** D_off; built by the DPO stage when it includes π0's samples, else at start-up. */
    private List<OfflinePair> offline;
    private final List<Prompt> userRoundPrompts;
    private final List<Prompt> agreementPrompts = new ArrayList<>();
    private final List<List<String>> agreementCandidates = new ArrayList<>();
    private List<Response> baseline;
    /** The current round's response texts by (prompt id, sample), from its scored shards. */
    private final Map<String, String> roundTexts = new HashMap<>();

    RunPlan(RunConfig config, RunDirectory dir) {
        this.config = config;
        this.dir = dir;
        this.userModel = config.model().dir().isEmpty() ? null : Path.of(config.model().dir());
        this.task = new BuiltinTask(config.seed());
        boolean ownPrompts = !config.data().prompts().isEmpty();
        Optional<ChatFormat> chat = ChatFormat.of(config.model());
        this.judge = ownPrompts ? null : new Judge();
        if (ownPrompts) {
            List<Prompt> all = Datasets.readPrompts(Path.of(config.data().prompts()), chat);
            int eval = Math.min(config.eval().prompts(), all.size() / 5);
            this.evalPrompts = all.subList(all.size() - eval, all.size());
            this.userRoundPrompts = all.subList(0, all.size() - eval);
        } else {
            this.evalPrompts = task.prompts("eval", config.eval().prompts());
            this.userRoundPrompts = null;
            SplittableRandom rng = new SplittableRandom(seed("agreement"));
            for (Prompt p : task.prompts("eval", config.eval().agreementPrompts())) {
                agreementPrompts.add(p);
                agreementCandidates.add(task.offlineCandidates(p, rng));
            }
        }
        if (!config.data().offlinePairs().isEmpty()) {
            this.offline = Datasets.readOfflinePairs(Path.of(config.data().offlinePairs()), chat);
        } else if (Files.exists(offlineFile())) {
            this.offline = Datasets.readOfflinePairs(offlineFile(), Optional.empty());
        } else if (config.data().offlinePolicySamples() == 0) {
            buildOffline(List.of());
        }
        evalPrompts.forEach(p -> promptsById.put(p.id(), p));
        Path saved = baselineFile();
        if (Files.exists(saved)) {
            baseline = Jsonl.read(saved, (node, where) -> Response.newBuilder().setPromptId(node.get("prompt_id").asText())
                    .setText(node.get("response").asText()).setTokens(node.get("tokens").asInt())
                    .setEndedOnEos(node.get("ended_on_eos").asBoolean()).build());
        }
    }

    RunConfig config() {
        return config;
    }

    RunDirectory dir() {
        return dir;
    }

    Judge judge() {
        return judge;
    }

    Path userModel() {
        return userModel;
    }

    List<String> stages() {
        return stageNames(config);
    }

    static List<String> stageNames(RunConfig config) {
        List<String> stages = new ArrayList<>(List.of("sft", "dpo"));
        for (int t = 1; t <= config.rounds().count(); t++) {
            stages.add("round" + t);
        }
        return stages;
    }

    /** Stage index s: 0 = π0 (SFT), 1 = π1 (DPO), t + 1 = the model after round t. */
    Path modelDir(int s) {
        return s == 0 && userModel != null ? userModel : dir.model(stages().get(s));
    }

    /** Scoring under the model of stage index {@code s} as the policy and its predecessor as the reference. */
    ShardJob.ScoringModels scoring(int s) {
        return new ShardJob.ScoringModels(modelDir(s).toAbsolutePath(), s - 1L, modelDir(Math.max(0, s - 1)).toAbsolutePath());
    }

    long seed(String what) {
        return Seeds.of(config.seed(), what, 0);
    }

    List<Training.Example> sftExamples() {
        return Datasets.sftExamples(task, config.data().sftPrompts(), config.seed());
    }

    List<OfflinePair> offlinePairs() {
        if (offline == null) {
            throw new IllegalStateException("D_off is built by the DPO stage from π0's samples; it has not run");
        }
        return offline;
    }

    /** Whether D_off still needs π0's samples of the offline prompts (built-in task, not yet built). */
    boolean offlineNeedsSamples() {
        return offline == null;
    }

    /** π0 samples of the offline prompts, to stand beside the synthetic candidates in D_off. */
    List<PromptShard> offlineSampleShards() {
        return promptShards(Job.offlineSamples(), task.prompts("offline", config.data().offlinePrompts()),
                config.data().offlinePolicySamples(), seed("offline-samples"), 0);
    }

    /**
     * Builds D_off like UltraFeedback: per prompt the synthetic generators' responses plus π0's complete samples,
     * the judge's tournament winner as chosen, a random other as rejected; saved as {@code dpo/offline.jsonl}.
     */
    void buildOffline(List<GeneratedShard> policySamples) {
        Map<String, List<String>> extra = new HashMap<>();
        for (Response r : responses(policySamples)) {
            if (r.getValid()) {
                extra.computeIfAbsent(r.getPromptId(), k -> new ArrayList<>()).add(r.getText());
            }
        }
        OfflinePairs built = OfflinePairs.build(task, judge == null ? new Judge() : judge,
                task.prompts("offline", config.data().offlinePrompts()), p -> extra.getOrDefault(p.id(), List.of()),
                new SplittableRandom(config.seed() ^ 0x0FFL));
        org.slf4j.LoggerFactory.getLogger(RunPlan.class).info("{}", built.stats());
        offline = built.pairs();
        Jsonl.write(offlineFile(), offline); // records write as prompt_id, prompt, chosen, rejected
    }

    private Path offlineFile() {
        return dir.stage("dpo").resolve("offline.jsonl");
    }

    // ---- shards ----------------------------------------------------------------------------------------------

    List<PromptShard> roundShards(int t) {
        List<Prompt> prompts = userRoundPrompts != null ? roundSlice(t) : task.prompts("round" + t, config.rounds().prompts());
        prompts.forEach(p -> promptsById.put(p.id(), p));
        return promptShards(Job.round("round" + t), prompts, config.rounds().k(), seed("round" + t), t);
    }

    private List<Prompt> roundSlice(int t) {
        int n = Math.min(config.rounds().prompts(), userRoundPrompts.size());
        int from = (int) ((long) (t - 1) * n % Math.max(1, userRoundPrompts.size()));
        List<Prompt> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(userRoundPrompts.get((from + i) % userRoundPrompts.size()));
        }
        return out;
    }

    /**
     * One sample per eval prompt, for a stage's evaluation or the baseline; the seed depends on which, so each
     * draws fresh samples.
     */
    List<PromptShard> evalShards(Job job, long version) {
        String purpose = job.kind() == Job.Kind.BASELINE ? "baseline" : job.stage();
        return promptShards(job, evalPrompts, 1, seed("eval-" + purpose), version);
    }

    private List<PromptShard> promptShards(Job job, List<Prompt> prompts, int k, long seed, long version) {
        List<PromptShard> shards = new ArrayList<>();
        int size = config.cluster().shardSize();
        for (int from = 0; from < prompts.size(); from += size) {
            PromptShard.Builder b = PromptShard.newBuilder().setJob(job.name()).setShard(shards.size()).setPolicyVersion(version)
                    .setPolicyDir(modelDir((int) version).toAbsolutePath().toString()).setSamplesPerPrompt(k).setSeed(seed);
            for (Prompt p : prompts.subList(from, Math.min(prompts.size(), from + size))) {
                b.addPrompts(dev.dice.proto.Prompt.newBuilder().setId(p.id()).setText(p.text()));
            }
            shards.add(b.build());
        }
        return shards;
    }

    /** Offline pairs' chosen (sample 0) and rejected (sample 1) texts, to be scored under the policy of {@code version}. */
    List<GeneratedShard> offlineShardsFor(Job job, List<OfflinePair> pairs, long version) {
        List<List<String>> texts = new ArrayList<>();
        List<dev.dice.proto.Prompt> prompts = new ArrayList<>();
        for (OfflinePair p : pairs) {
            prompts.add(dev.dice.proto.Prompt.newBuilder().setId(p.promptId()).setText(p.prompt()).build());
            texts.add(List.of(p.chosen(), p.rejected()));
        }
        return textShards(job, prompts, texts, version);
    }

    /** Held-out candidates (several per eval prompt) for the implicit reward's agreement with the judge. */
    List<GeneratedShard> agreementShards(Job job, long version) {
        List<dev.dice.proto.Prompt> prompts = new ArrayList<>();
        for (Prompt p : agreementPrompts) {
            prompts.add(dev.dice.proto.Prompt.newBuilder().setId(p.id()).setText(p.text()).build());
        }
        return textShards(job, prompts, agreementCandidates, version);
    }

    private List<GeneratedShard> textShards(Job job, List<dev.dice.proto.Prompt> prompts, List<List<String>> texts,
            long version) {
        List<GeneratedShard> shards = new ArrayList<>();
        int size = Math.max(1, config.cluster().batchRows() / 2);
        for (int from = 0; from < prompts.size(); from += size) {
            GeneratedShard.Builder b = GeneratedShard.newBuilder().setJob(job.name()).setShard(shards.size()).setPolicyVersion(version);
            for (int i = from; i < Math.min(prompts.size(), from + size); i++) {
                b.addPrompts(prompts.get(i));
                for (int s = 0; s < texts.get(i).size(); s++) {
                    b.addResponses(Response.newBuilder().setPromptId(prompts.get(i).getId()).setSample(s)
                            .setText(texts.get(i).get(s)).setEndedOnEos(true).setValid(true));
                }
            }
            shards.add(b.build());
        }
        return shards;
    }

    /** Offline pairs with their reference log-probs: the policy-side score of their shards (π_t is the reference). */
    List<PreferencePair> offlineWithReferences(List<OfflinePair> pairs, List<ScoredShard> scored) {
        Map<String, Double> logp = new HashMap<>();
        for (ScoredShard shard : scored) {
            for (ScoredResponse r : shard.getResponsesList()) {
                logp.put(Evaluation.key(r.getResponse().getPromptId(), r.getResponse().getSample()), r.getLogpPolicy());
            }
        }
        List<PreferencePair> out = new ArrayList<>();
        for (OfflinePair p : pairs) {
            out.add(PreferencePair.newBuilder().setPromptId(p.promptId()).setPrompt(p.prompt()).setChosen(p.chosen())
                    .setRejected(p.rejected()).setRefLogpChosen(logp.get(Evaluation.key(p.promptId(), 0)))
                    .setRefLogpRejected(logp.get(Evaluation.key(p.promptId(), 1))).setSource("offline").build());
        }
        return out;
    }

    // ---- round files and facts ------------------------------------------------------------------------------

    /** {@code <run>/<round>/scored.jsonl}: one line per sampled response. */
    void writeScored(String round, List<ScoredShard> scored) {
        List<Map<String, Object>> rows = new ArrayList<>();
        roundTexts.clear();
        for (ScoredShard shard : scored) {
            for (ScoredResponse s : shard.getResponsesList()) {
                Response r = s.getResponse();
                roundTexts.put(Evaluation.key(r.getPromptId(), r.getSample()), r.getText());
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("prompt_id", r.getPromptId());
                row.put("sample", r.getSample());
                row.put("response", r.getText());
                row.put("tokens", r.getTokens());
                row.put("chars", r.getText().length());
                row.put("logp_policy", s.getLogpPolicy());
                row.put("logp_ref", s.getLogpRef());
                row.put("ended_on_eos", r.getEndedOnEos());
                row.put("valid", r.getValid());
                rows.add(row);
            }
        }
        Jsonl.write(dir.stage(round).resolve("scored.jsonl"), rows);
    }

    record GeneratedPairs(List<PreferencePair> pairs, StageResult.RoundFacts facts) {}

    /** The round's pairs as DPO data (reference log-probs = π_t's, already computed), its facts, pairs.jsonl. */
    GeneratedPairs generatedPairs(String round, RewardShapingActor.Shaped shaped) {
        Map<String, String> texts = roundTexts;
        List<PreferencePair> pairs = new ArrayList<>();
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Pair pair : shaped.pairs()) {
            String chosen = texts.get(Evaluation.key(pair.promptId(), pair.chosen().sample()));
            String rejected = texts.get(Evaluation.key(pair.promptId(), pair.rejected().sample()));
            pairs.add(PreferencePair.newBuilder().setPromptId(pair.promptId()).setPrompt(promptsById.get(pair.promptId()).text())
                    .setChosen(chosen).setRejected(rejected).setRefLogpChosen(pair.chosen().logpPolicy())
                    .setRefLogpRejected(pair.rejected().logpPolicy()).setSource("generated").build());
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("prompt_id", pair.promptId());
            row.put("chosen", chosen);
            row.put("rejected", rejected);
            row.put("chosen_sample", pair.chosen().sample());
            row.put("rejected_sample", pair.rejected().sample());
            row.put("chosen_tokens", pair.chosen().length());
            row.put("rejected_tokens", pair.rejected().length());
            row.put("chosen_reward", pair.chosen().reward());
            row.put("rejected_reward", pair.rejected().reward());
            rows.add(row);
        }
        Jsonl.write(dir.stage(round).resolve("pairs.jsonl"), rows);
        return new GeneratedPairs(pairs, facts(shaped, texts));
    }

    private StageResult.RoundFacts facts(RewardShapingActor.Shaped shaped, Map<String, String> texts) {
        List<Candidate> valid = shaped.candidates().stream().filter(Candidate::valid).toList();
        Double corrQuality = null;
        Double better = null;
        Double worse = null;
        Double tied = null;
        if (judge != null) {
            corrQuality = Stats.meanWithinGroupCorrelation(valid, Candidate::promptId, Candidate::reward,
                    c -> judge.quality(promptsById.get(c.promptId()), texts.get(Evaluation.key(c.promptId(), c.sample())),
                            true));
            double[] accuracy = Evaluation.pairAccuracy(shaped.pairs(), promptsById, texts, judge);
            better = accuracy[0];
            worse = accuracy[1];
            tied = accuracy[2];
        }
        double corrRef = Stats.meanWithinGroupCorrelation(valid, Candidate::promptId, Candidate::reward,
                Candidate::logpRef);
        double gapAtZero = shaped.search() != null ? shaped.search().meanGapAtZero()
                : PairSelection.meanLengthGap(PairSelection.select(shaped.candidates(), 0,
                        PairSelection.minValidFor(config.rounds().k())));
        Double kl = valid.isEmpty() ? null
                : valid.stream().mapToDouble(c -> c.logpPolicy() - c.logpRef()).average().orElse(Double.NaN);
        Double sampleQ = null;
        Double chosenQ = null;
        Double rejectedQ = null;
        if (judge != null) {
            sampleQ = valid.stream().mapToDouble(c -> quality(c.promptId(), c.sample(), texts)).average().orElse(Double.NaN);
            chosenQ = shaped.pairs().stream().mapToDouble(p -> quality(p.promptId(), p.chosen().sample(), texts))
                    .average().orElse(Double.NaN);
            rejectedQ = shaped.pairs().stream().mapToDouble(p -> quality(p.promptId(), p.rejected().sample(), texts))
                    .average().orElse(Double.NaN);
        }
        return new StageResult.RoundFacts(shaped.alpha(), better, worse, tied,
                PairSelection.meanLengthGap(shaped.pairs()), gapAtZero, corrQuality, corrRef,
                valid.size() / (double) Math.max(1, shaped.candidates().size()), shaped.pairs().size(), 0, kl, sampleQ,
                chosenQ, rejectedQ);
    }

    private double quality(String promptId, int sample, Map<String, String> texts) {
        return judge.quality(promptsById.get(promptId), texts.get(Evaluation.key(promptId, sample)), true);
    }

    // ---- evaluation -------------------------------------------------------------------------------------------

    static List<Response> responses(List<GeneratedShard> shards) {
        List<Response> out = new ArrayList<>();
        shards.forEach(s -> out.addAll(s.getResponsesList()));
        return out;
    }

    boolean hasBaseline() {
        return baseline != null;
    }

    void saveBaseline(List<Response> responses) {
        baseline = responses;
        Jsonl.write(baselineFile(), responseRows(responses, false));
    }

    /** {@code <run>/<stage>/eval.jsonl}: the stage's responses to the eval prompts, for offline analysis. */
    private void writeEval(String stage, List<Response> responses) {
        Jsonl.write(dir.stage(stage).resolve("eval.jsonl"), responseRows(responses, true));
    }

    /** One JSON row per response; with {@code quality}, the judge's true quality too (when there is a judge). */
    private List<Map<String, Object>> responseRows(List<Response> responses, boolean quality) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Response r : responses) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("prompt_id", r.getPromptId());
            row.put("response", r.getText());
            row.put("tokens", r.getTokens());
            row.put("ended_on_eos", r.getEndedOnEos());
            if (quality && judge != null && promptsById.containsKey(r.getPromptId())) {
                row.put("quality", judge.quality(promptsById.get(r.getPromptId()), r.getText(), r.getEndedOnEos()));
            }
            rows.add(row);
        }
        return rows;
    }

    private Path baselineFile() {
        return dir.stage("sft").resolve("baseline.jsonl");
    }

    StageResult stageResult(String name, List<Response> responses, List<ScoredShard> agreementScores,
            List<Training.Step> log, StageResult.RoundFacts facts, long started) {
        Evaluation.Scores scores = judge == null ? Evaluation.lengthOnly(responses)
                : Evaluation.score(evalPrompts, responses, baseline, judge);
        Double agreement = null;
        if (agreementScores != null) {
            Map<String, Double> rewards = new HashMap<>();
            for (ScoredShard shard : agreementScores) {
                for (ScoredResponse s : shard.getResponsesList()) {
                    rewards.put(Evaluation.key(s.getResponse().getPromptId(), s.getResponse().getSample()),
                            s.getLogpPolicy() - s.getLogpRef());
                }
            }
            double[][] r = new double[agreementPrompts.size()][];
            double[][] q = new double[agreementPrompts.size()][];
            for (int i = 0; i < agreementPrompts.size(); i++) {
                Prompt p = agreementPrompts.get(i);
                List<String> candidates = agreementCandidates.get(i);
                r[i] = new double[candidates.size()];
                q[i] = new double[candidates.size()];
                for (int j = 0; j < candidates.size(); j++) {
                    r[i][j] = rewards.get(Evaluation.key(p.id(), j));
                    q[i][j] = judge.quality(p, candidates.get(j), true);
                }
            }
            agreement = Evaluation.rewardAgreement(r, q);
        }
        writeEval(name, responses);
        StageResult result = StageResult.evaluated(name, scores, agreement, (System.nanoTime() - started) / 1e9);
        if (log != null && !log.isEmpty()) {
            List<Training.Step> tail = log.subList(log.size() - Math.max(1, log.size() / 10), log.size());
            double loss = tail.stream().mapToDouble(Training.Step::loss).average().orElse(Double.NaN);
            double accuracy = tail.stream().mapToDouble(Training.Step::rewardAccuracy).average().orElse(Double.NaN);
            // DPO rewards are β·(log π − log π_ref): divided by the stage's β they are the log-prob changes.
            double beta = "dpo".equals(name) ? config.dpo().beta() : config.rounds().training().beta();
            double chosen = tail.stream().mapToDouble(Training.Step::chosenReward).average().orElse(Double.NaN) / beta;
            double rejected = tail.stream().mapToDouble(Training.Step::rejectedReward).average().orElse(Double.NaN) / beta;
            result = Double.isNaN(accuracy) ? result.withTraining(loss, null)
                    : result.withTraining(loss, accuracy, chosen, rejected);
        }
        return facts == null ? result : result.withRound(facts);
    }
}
