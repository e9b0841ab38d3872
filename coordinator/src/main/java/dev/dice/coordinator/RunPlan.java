package dev.dice.coordinator;

import dev.dice.actors.ModelSource;
import dev.dice.actors.RewardShapingActor;
import dev.dice.algo.Pair;
import dev.dice.algo.ReplayMix;
import dev.dice.files.RoundFiles;
import dev.dice.proto.GeneratedShard;
import dev.dice.proto.PreferencePair;
import dev.dice.proto.PromptShard;
import dev.dice.proto.Response;
import dev.dice.proto.Sampling;
import dev.dice.proto.ScoredShard;
import dev.dice.task.BuiltinTask;
import dev.dice.task.Judge;
import dev.dice.task.OfflinePair;
import dev.dice.task.OwnPrompts;
import dev.dice.task.Task;
import dev.dice.work.Seeds;
import dev.dice.work.Training;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The bookkeeping of a run, kept out of the state machine: the stages, which model each uses, what each job gets
 * ({@link RunPrompts}, cut into {@link Shards}), D_off ({@link OfflineData}), the files a stage writes
 * ({@link StageFiles}) and its row of the summary ({@link StageRows}). The prompts come from the run's {@link Task} and
 * are judged by its {@link Evaluator}: the built-in task and its judge, or the user's own prompts and lengths alone.
 */
final class RunPlan {
    private final RunConfig config;
    private final RunDirectory dir;
    private final BuiltinTask task;
    private final Evaluator evaluator;
    private final Path userModel;
    private final RunPrompts prompts;
    private final OfflineData offline;
    private final Shards shards;
    private final StageFiles files;
    private final StageRows rows;
    /** π0's responses to the eval prompts, every stage's baseline; null until sampled. */
    private List<Response> baseline;
    /** Told what of the run directory was written: nodes standing by mirror it ({@link RunMirror}). */
    private final Consumer<String> changed;

    RunPlan(RunConfig config, RunDirectory dir) {
        this(config, dir, written -> {});
    }

    RunPlan(RunConfig config, RunDirectory dir, Consumer<String> changed) {
        this.config = config;
        this.dir = dir;
        this.changed = changed;
        this.userModel = config.model().dir().isEmpty() ? null : Path.of(config.model().dir());
        this.task = new BuiltinTask(config.seed());
        Optional<ChatFormat> chat = ChatFormat.of(config.model());
        if (config.data().prompts().isEmpty()) {
            this.prompts = new RunPrompts(config, task, task);
            this.evaluator = new JudgedEvaluator(task, new Judge(), prompts, config.eval().agreementPrompts(),
                    seed("agreement"));
        } else {
            Task own = new OwnPrompts(Datasets.readPrompts(Path.of(config.data().prompts()), chat), config.eval().prompts());
            this.prompts = new RunPrompts(config, own, task);
            this.evaluator = new LengthEvaluator();
        }
        this.offline = new OfflineData(config, dir, task, new Judge(), prompts, chat);
        this.shards = new Shards(config.cluster(), version -> dir.stored(modelDir((int) version)));
        this.files = new StageFiles(dir);
        this.rows = new StageRows(config, evaluator);
        this.baseline = files.readBaseline();
    }

    RunConfig config() {
        return config;
    }

    RunDirectory dir() {
        return dir;
    }

    /** Whether each stage after π0 checks its implicit reward against the judge on held-out candidates. */
    boolean checksAgreement() {
        return evaluator.checksAgreement();
    }

    Path userModel() {
        return userModel;
    }

    OfflineData offline() {
        return offline;
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

    /**
     * Scoring under the model of stage index {@code s} as the policy and its predecessor as the reference, named as
     * the run stores them.
     */
    JobSpec.ScoringModels scoring(int s) {
        return new JobSpec.ScoringModels(dir.stored(modelDir(s)), s - 1L, dir.stored(modelDir(Math.max(0, s - 1))));
    }

    /** How a DPO stage's ring of trainers runs. */
    TrainingJob.RingSettings ringSettings() {
        RunConfig.Trainers ring = config.trainers();
        return new TrainingJob.RingSettings(ring.ringTimeout(), ring.checkEvery(), ring.fp16Gradients(),
                ring.overlapGradients());
    }

    /** SFT from a fresh model of the built-in shape, written as π0 in the model's own dtype (the release's π0). */
    TrainingJob.Task sftTask() {
        List<Training.Example> examples = sftExamples();
        Training.Settings settings = config.sft().settings(seed("sft"), examples.size(), config.trainers());
        return new TrainingJob.Task("sft", new TrainingJob.Sft(null, config.model().builtin(), examples), settings, 0,
                dir.stored(dir.model("sft")), false);
    }

    /**
     * A DPO stage ({@code dpo} on D_off, or a round) from {@code init} on {@code pairs}; its model is the next
     * version, written into the stage's directory (named as the run stores it).
     */
    TrainingJob.Task dpoTask(String stage, ModelSource init, List<PreferencePair> pairs) {
        RunConfig.Stage training = stage.equals("dpo") ? config.dpo() : config.rounds().training();
        Training.Settings settings = training.settings(seed(stage), pairs.size(), config.trainers());
        return new TrainingJob.Task(stage, init, pairs, settings, init.version() + 1, dir.stored(dir.model(stage)),
                config.model().float32Weights());
    }

    long seed(String what) {
        return Seeds.of(config.seed(), what, 0);
    }

    List<Training.Example> sftExamples() {
        return Datasets.sftExamples(task, config.data().sftPrompts(), config.seed());
    }

    // ---- what each job gets ------------------------------------------------------------------------------

    /** π0 samples of the offline prompts, to stand beside the synthetic candidates in D_off. */
    List<PromptShard> offlineSampleShards() {
        return shards.prompts(Job.offlineSamples(), offline.prompts(), config.data().offlinePolicySamples(),
                roundSampling(), seed("offline-samples"), 0);
    }

    /** Round t's K samples per prompt with π_t. */
    List<PromptShard> roundShards(int t) {
        return shards.prompts(Job.round("round" + t), prompts.round(t), config.rounds().k(), roundSampling(),
                seed("round" + t), t);
    }

    /**
     * One sample per eval prompt, for a stage's evaluation or the baseline, at the evaluation's temperature and top-p;
     * the seed depends on which, so each draws fresh samples.
     */
    List<PromptShard> evalShards(Job job, long version) {
        String purpose = job.kind() == Job.Kind.BASELINE ? "baseline" : job.stage();
        Sampling sampling = roundSampling().toBuilder().setTemperature(config.eval().temperature())
                .setTopP(config.eval().topP()).build();
        return shards.prompts(job, prompts.eval(), 1, sampling, seed("eval-" + purpose), version);
    }

    /** The rounds' sampling, which π0's samples for D_off share; evaluation changes only temperature and top-p. */
    private Sampling roundSampling() {
        RunConfig.Rounds r = config.rounds();
        return Sampling.newBuilder().setTemperature(r.temperature()).setTopP(r.topP()).setMaxNewTokens(r.maxNewTokens())
                .setMinResponseChars(r.minResponseChars()).build();
    }

    /** Offline pairs' chosen and rejected texts, to be scored under the policy of {@code version}. */
    List<GeneratedShard> offlineShards(Job job, List<OfflinePair> pairs, long version) {
        return shards.offline(job, pairs, version);
    }

    /** Held-out candidates (several per eval prompt) for the implicit reward's agreement with the judge. */
    List<GeneratedShard> agreementShards(Job job, long version) {
        return shards.candidates(job, evaluator.agreementPrompts(), evaluator.agreementCandidates(), version);
    }

    // ---- a round's files and pairs ---------------------------------------------------------------------------

    /** Writes {@code <run>/<round>/scored.jsonl}; returns the round's response texts by (prompt id, sample). */
    Map<String, String> writeScored(String round, List<ScoredShard> scored) {
        Map<String, String> texts = files.writeScored(round, scored);
        changed.accept(round + "/" + RoundFiles.SCORED);
        return texts;
    }

    /** Writes {@code <run>/<stage>/stage.json}: the stage is finished. */
    void saveResult(StageResult result) {
        dir.saveResult(result);
        changed.accept(result.name() + "/stage.json");
    }

    /** The model of {@code stage} is complete in the run directory. */
    void modelWritten(String stage) {
        changed.accept(dir.stored(dir.model(stage)).toString());
    }

    record GeneratedPairs(List<PreferencePair> pairs, RoundFacts facts) {
        /** Pairs whose prompt already has a pair in the round: 0 unless a result was counted twice. */
        int duplicatePrompts() {
            Set<String> seen = new HashSet<>();
            return (int) pairs.stream().filter(p -> !seen.add(p.getPromptId())).count();
        }
    }

    /**
     * The round's pairs as DPO data (reference log-probs = π_t's, already computed) and its facts; writes
     * {@code pairs.jsonl}. {@code texts}: the round's responses, as {@link #writeScored} gave them.
     */
    GeneratedPairs generatedPairs(String round, RewardShapingActor.Shaped shaped, Map<String, String> texts) {
        List<PreferencePair> pairs = new ArrayList<>();
        for (Pair pair : shaped.pairs()) {
            pairs.add(PreferencePair.newBuilder().setPromptId(pair.promptId()).setPrompt(prompts.byId(pair.promptId()).text())
                    .setChosen(texts.get(Evaluation.key(pair.promptId(), pair.chosen().sample())))
                    .setRejected(texts.get(Evaluation.key(pair.promptId(), pair.rejected().sample())))
                    .setRefLogpChosen(pair.chosen().logpPolicy()).setRefLogpRejected(pair.rejected().logpPolicy())
                    .setSource("generated").build());
        }
        files.writePairs(round, shaped.pairs(), texts);
        return new GeneratedPairs(pairs, rows.roundFacts(shaped, texts));
    }

    /** The round's generated pairs mixed with replayed D_off pairs at γ (the offline ones without reference log-probs). */
    ReplayMix.Mix<PreferencePair, OfflinePair> mix(String round, GeneratedPairs generated) {
        return ReplayMix.mix(generated.pairs(), offline.pairs(), PreferencePair::getPromptId, OfflinePair::promptId,
                config.rounds().gamma(), seed(round + "-mix"));
    }

    /** Fails when a round's mix holds no generated pair: π_{t+1} = π_t would make the next round's reward zero. */
    void requireGenerated(String round, GeneratedPairs generated, ReplayMix.Mix<PreferencePair, OfflinePair> mix) {
        if (mix.generated().isEmpty()) {
            throw new IllegalStateException(round + ": no generated pairs to train on: " + generated.pairs().size()
                    + " pairs from the round's responses (a prompt gives a pair when its K responses differ in shaped"
                    + " reward), " + offline.pairs().size() + " offline pairs; the mix takes min(N_off·(1 − γ),"
                    + " |D|) generated pairs. More prompts per round (dice.rounds.prompts), a larger K (dice.rounds.k) or"
                    + " more offline pairs (dice.data.offline-prompts) give it some.");
        }
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
        files.writeBaseline(responses);
        changed.accept("the baseline");
    }

    /** The stage's row of the summary; writes its responses to {@code <run>/<stage>/eval.jsonl}. */
    StageResult stageResult(String name, List<Response> responses, List<ScoredShard> agreementScores,
            List<Training.Step> log, RoundFacts facts, long started) {
        files.writeEval(name, responses, evaluator::quality);
        return rows.row(name, responses, baseline, agreementScores, log, facts, started);
    }
}
