package dev.dice.task;

import dev.dice.gpu.BadInputException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The embedded default task: short instructions from six families that a tiny byte-level model can learn on a
 * CPU in minutes, imperfect demonstrations to fine-tune it on, and UltraFeedback-like candidates of clearly
 * different quality for the offline preference set. The hidden judge lives in {@link Judge}.
 *
 * <p>Everything is a function of the seed (and, for responses, of the caller's random stream), so a run can be
 * repeated exactly.
 */
public final class BuiltinTask implements Task {

    /** The model's context: BOS + prompt + separator + response + EOS must fit in it. */
    public static final int CONTEXT_BYTES = 64;
    /** BOS, the byte between prompt and response, and EOS. */
    public static final int FRAMING_BYTES = 3;

    /** Demonstration mix (the design under which the miniature's DPO beat SFT, embedded-task.md). */
    public static final double DEMO_CORRECT = 0.6;
    public static final double DEMO_COPY_INPUT = 0.3;
    public static final double DEMO_SMALL_EDITS = 0.1;

    /** Give up on a split after this many consecutive draws that were taken or belong to other splits. */
    private static final int MAX_DRAWS_PER_PROMPT = 1_000_000;

    private final long seed;
    private final boolean onSupportFiller;

    /** The task with on-support offline candidates (see {@link #BuiltinTask(long, boolean)}). */
    public BuiltinTask(long seed) {
        this(seed, true);
    }

    /**
     * @param onSupportFiller whether the verbose offline generators wrap their answer in the demonstrations' own
     *     phrases (one plain prefix and one plain suffix: long, but text the SFT model already produces) rather
     *     than stacking phrases the demonstrations never contain. Off-support filler sits at log π0 ≈ −140 and
     *     dominates DPO's gradient: π1 then learns verbosity instead of correctness (docs/results.md).
     */
    public BuiltinTask(long seed, boolean onSupportFiller) {
        this.seed = seed;
        this.onSupportFiller = onSupportFiller;
    }

    public long seed() {
        return seed;
    }

    /** The first {@code n} prompts of the "eval" split. */
    @Override
    public List<Prompt> eval(int n) {
        return prompts("eval", n);
    }

    /** The first {@code n} prompts of split "round{@code t}". */
    @Override
    public List<Prompt> round(int t, int n) {
        return prompts("round" + t, n);
    }

    public static List<Family> families() {
        return List.of(Family.values());
    }

    /**
     * The first {@code n} prompts of a split: "sft", "offline", "eval", or "round1" … "round8". Prompts cycle
     * through the families in order, are distinct within the split, and never occur in another split. The list
     * is a prefix of any longer list of the same split.
     */
    public List<Prompt> prompts(String split, int n) {
        if (n < 0) {
            throw new BadInputException("prompt count for split '" + split + "' must be >= 0, got " + n);
        }
        Splits.interval(split); // refuse unknown split names before drawing anything
        SplittableRandom rng = new SplittableRandom(Splits.streamSeed(seed, split));
        Family[] families = Family.values();
        Set<String> taken = new HashSet<>();
        List<Prompt> prompts = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Family family = families[i % families.length];
            Family.Draw draw = drawOwned(split, family, rng, taken);
            taken.add(draw.text());
            prompts.add(new Prompt(split + "-" + i, family.label(), draw.text(), draw.answer()));
        }
        return prompts;
    }

    private Family.Draw drawOwned(String split, Family family, SplittableRandom rng, Set<String> taken) {
        for (int attempt = 0; attempt < MAX_DRAWS_PER_PROMPT; attempt++) {
            Family.Draw draw = family.draw(rng);
            if (!taken.contains(draw.text()) && Splits.owns(split, seed, draw.text())) {
                return draw;
            }
        }
        throw new BadInputException("split '" + split + "' ran out of distinct '" + family + "' prompts after "
                + taken.size() + " prompts; ask for fewer (the smallest family, add, has 8100 instances, of which"
                + " each split owns its share: eval 5%, offline 15%, each round 2.5%, sft 60%)");
    }

    /**
     * An SFT demonstration: imperfect like real instruction data. 60% the correct answer, 30% the systematic
     * wrong strategy (copy the input), 10% the correct answer with 1–2 character edits; the polite filler around
     * it is drawn independently of which.
     */
    public String demonstration(Prompt p, SplittableRandom rng) {
        Family family = Family.of(p.family());
        double u = rng.nextDouble();
        String core;
        if (u < DEMO_CORRECT) {
            core = p.answer();
        } else if (u < DEMO_CORRECT + DEMO_COPY_INPUT) {
            core = family.copyInput(p.text());
        } else {
            core = Edits.perturb(p.answer(), 1 + rng.nextInt(2), family.alphabet(), rng);
        }
        return Filler.plain(core, rng);
    }

    /** The offline generators, from best to worst in expected quality (verbose-correct is longest). */
    public enum Generator {
        /** The bare correct answer. */
        CORRECT_TERSE,
        /** The correct answer wrapped in the longest filler (on or off the demonstrations' support). */
        CORRECT_VERBOSE,
        /** The correct answer with 1–3 character edits, everyday filler. */
        NOISY,
        /** The input copied, everyday filler. */
        SYSTEMATIC_WRONG,
        /** The input copied, wrapped in the longest filler. */
        VERBOSE_WRONG
    }

    /** One response from each {@link Generator}, in random order: the synthetic half of an UltraFeedback row. */
    public List<String> offlineCandidates(Prompt p, SplittableRandom rng) {
        List<String> candidates = new ArrayList<>();
        for (Generator generator : Generator.values()) {
            candidates.add(generate(generator, p, rng));
        }
        for (int i = candidates.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            candidates.set(j, candidates.set(i, candidates.get(j)));
        }
        return candidates;
    }

    /** A response from one offline generator; always fits the context with the prompt. */
    public String generate(Generator generator, Prompt p, SplittableRandom rng) {
        Family family = Family.of(p.family());
        int room = maxResponseBytes(p);
        return switch (generator) {
            case CORRECT_TERSE -> p.answer();
            case CORRECT_VERBOSE -> verbose(p.answer(), room, rng);
            case NOISY -> Filler.plain(Edits.perturb(p.answer(), 1 + rng.nextInt(3), family.alphabet(), rng), rng);
            case SYSTEMATIC_WRONG -> Filler.plain(family.copyInput(p.text()), rng);
            case VERBOSE_WRONG -> verbose(family.copyInput(p.text()), room, rng);
        };
    }

    private String verbose(String core, int room, SplittableRandom rng) {
        return onSupportFiller ? Filler.full(core, room, rng) : Filler.verbose(core, room, rng);
    }

    /** Bytes left for a response to this prompt within {@link #CONTEXT_BYTES}. */
    public static int maxResponseBytes(Prompt p) {
        return CONTEXT_BYTES - FRAMING_BYTES - p.text().getBytes(StandardCharsets.UTF_8).length;
    }

    /** Whether prompt, response and framing fit in the model's context. */
    public static boolean fits(Prompt p, String response) {
        return response.getBytes(StandardCharsets.UTF_8).length <= maxResponseBytes(p);
    }

    /** A short description of the task, with the default judge. */
    public String describe() {
        return describe(JudgeParams.DEFAULTS);
    }

    public String describe(JudgeParams judge) {
        StringBuilder out = new StringBuilder();
        out.append("Built-in task (seed ").append(seed).append("): ").append(Family.values().length)
                .append(" families, prompts cycle through them:\n");
        for (Family family : Family.values()) {
            out.append(String.format("  %-8s %-20s -> %s%n", family.label(), family.example(), family.exampleAnswer()));
        }
        out.append("  Words: ").append(Words.ALL.size()).append(" common 3-5 letter words, two per phrase.\n");
        out.append(String.format("Splits disjoint by a seeded hash of the prompt text: eval %.0f%%, offline %.0f%%,"
                + " round1..round%d %.1f%% each, sft %.0f%% of the prompt space.%n", 100 * Splits.EVAL_SHARE,
                100 * Splits.OFFLINE_SHARE, Splits.MAX_ROUNDS, 100 * Splits.ROUND_SHARE, 100 * (1 - Splits.SFT_START)));
        out.append(String.format("Demonstrations: %.0f%% correct, %.0f%% copy the input (systematic wrong),"
                + " %.0f%% correct with 1-2 character edits;%n", 100 * DEMO_CORRECT, 100 * DEMO_COPY_INPUT,
                100 * DEMO_SMALL_EDITS));
        out.append(String.format("  filler independent of correctness: prefix %s (%.0f%% none), suffix %s (%.0f%% none).%n",
                Filler.PLAIN_PREFIXES, 100 * Filler.NO_PREFIX, Filler.PLAIN_SUFFIXES, 100 * Filler.NO_SUFFIX));
        out.append("Offline candidates: one each of correct-terse, correct-verbose, noisy (1-3 edits),"
                + " copy-input, verbose copy-input;").append(onSupportFiller
                ? " verbose = one plain prefix and suffix (the demonstrations' own filler).\n"
                : " verbose = two stacked phrases from all filler, off the demonstrations' support.\n");
        out.append("Judge: q = 1 - edit distance / max length between answer and response without filler"
                + " (0 if empty or truncated);\n");
        out.append("  P(a > b) = sigmoid((q_a - q_b)/tau + lambda*(len_a - len_b)/sigma_len), ")
                .append(judge).append(".\n");
        out.append("Context ").append(CONTEXT_BYTES).append(" bytes including BOS, separator and EOS.");
        return out.toString();
    }
}
