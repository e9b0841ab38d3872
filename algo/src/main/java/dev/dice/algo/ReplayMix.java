package dev.dice.algo;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;

/**
 * Experience replay: the round's training set is a fraction γ of offline pairs and 1 − γ of generated pairs.
 *
 * <p>With N_off offline pairs available and |D| generated pairs:
 * n_gen = floor(min(N_off·(1 − γ), |D|)), n_off = round(γ·n_gen / (1 − γ)), and the offline pairs are drawn only
 * from prompts that are not among the chosen generated pairs' prompts. Note the formula caps n_gen by N_off even at
 * γ = 0; that is the method's rule, kept as is.
 *
 * <p>Which pairs are taken is decided by a {@link Random} seeded with the given seed (its algorithm is fixed by the
 * Java specification, so a seed means the same mix on every JVM). Selected pairs keep their input order.
 */
public final class ReplayMix {

    /** Absorbs binary rounding of γ, e.g. 10·(1 − 0.9) = 0.9999999999999998 must floor to 1, not 0. */
    private static final double ROUNDING_SLACK = 1e-9;

    private ReplayMix() {}

    /**
     * @param generated the generated pairs taken
     * @param offline   the offline pairs taken
     * @param shortfall how many offline pairs n_off asked for but could not be found on prompts outside the generated
     *                  sample (0 when the mix has the intended proportion)
     */
    public record Mix<G, O>(List<G> generated, List<O> offline, int shortfall) {}

    public static <G, O> Mix<G, O> mix(List<G> generated, List<O> offline, Function<G, String> genPrompt,
                                       Function<O, String> offPrompt, double gamma, long seed) {
        int nGen = generatedCount(offline.size(), generated.size(), gamma);
        int nOff = offlineCount(nGen, gamma);
        Random random = new Random(seed);

        List<G> takenGenerated = sample(generated, nGen, random);
        Set<String> generatedPrompts = new HashSet<>();
        for (G pair : takenGenerated) {
            generatedPrompts.add(genPrompt.apply(pair));
        }
        List<O> eligible = new ArrayList<>();
        for (O pair : offline) {
            if (!generatedPrompts.contains(offPrompt.apply(pair))) {
                eligible.add(pair);
            }
        }
        List<O> takenOffline = sample(eligible, Math.min(nOff, eligible.size()), random);
        return new Mix<>(takenGenerated, takenOffline, nOff - takenOffline.size());
    }

    /** n_gen = floor(min(N_off·(1 − γ), |D|)). */
    public static int generatedCount(int offlineAvailable, int generatedAvailable, double gamma) {
        checkGamma(gamma);
        long byOffline = (long) Math.floor(offlineAvailable * (1 - gamma) + ROUNDING_SLACK);
        return (int) Math.min(byOffline, generatedAvailable);
    }

    /** n_off = γ·n_gen / (1 − γ), rounded to nearest (halves up). */
    public static int offlineCount(int generatedCount, double gamma) {
        checkGamma(gamma);
        return (int) Math.round(gamma * generatedCount / (1 - gamma) + ROUNDING_SLACK);
    }

    private static void checkGamma(double gamma) {
        if (!(gamma >= 0 && gamma < 1)) { // also refuses NaN
            throw new IllegalArgumentException("gamma must be in [0, 1), got " + gamma
                    + " (gamma = 1 would be plain offline DPO: no generated pairs)");
        }
    }

    /** k items chosen uniformly without replacement (partial Fisher–Yates on indices), returned in input order. */
    private static <T> List<T> sample(List<T> items, int k, Random random) {
        int[] index = new int[items.size()];
        for (int i = 0; i < index.length; i++) {
            index[i] = i;
        }
        for (int i = 0; i < k; i++) {
            int j = i + random.nextInt(index.length - i);
            int swap = index[i];
            index[i] = index[j];
            index[j] = swap;
        }
        int[] taken = Arrays.copyOf(index, k);
        Arrays.sort(taken);
        List<T> out = new ArrayList<>(k);
        for (int i : taken) {
            out.add(items.get(i));
        }
        return out;
    }
}
