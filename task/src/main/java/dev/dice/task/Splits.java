package dev.dice.task;

import dev.dice.gpu.BadInputException;
import java.nio.charset.StandardCharsets;

/**
 * Which split owns which prompt. A seeded hash maps every prompt text to a point u in [0, 1); each split owns a
 * fixed interval of u. Splits are therefore disjoint by construction, whatever sizes are asked of them and in
 * whatever order. SFT gets the largest share because it needs the most distinct prompts.
 */
final class Splits {

    static final int MAX_ROUNDS = 8;
    static final double EVAL_SHARE = 0.05;
    static final double OFFLINE_SHARE = 0.15;
    static final double ROUND_SHARE = 0.025;
    /** SFT owns everything after the rounds: 1 − 0.05 − 0.15 − 8 × 0.025 = 0.60. */
    static final double SFT_START = EVAL_SHARE + OFFLINE_SHARE + MAX_ROUNDS * ROUND_SHARE;

    private Splits() {
    }

    /** The interval [lo, hi) of u that {@code split} owns; refuses unknown split names. */
    static double[] interval(String split) {
        if (split.equals("eval")) {
            return new double[] {0, EVAL_SHARE};
        }
        if (split.equals("offline")) {
            return new double[] {EVAL_SHARE, EVAL_SHARE + OFFLINE_SHARE};
        }
        if (split.equals("sft")) {
            return new double[] {SFT_START, 1};
        }
        int round = roundNumber(split);
        double lo = EVAL_SHARE + OFFLINE_SHARE + (round - 1) * ROUND_SHARE;
        return new double[] {lo, lo + ROUND_SHARE};
    }

    static boolean owns(String split, long seed, String text) {
        double[] interval = interval(split);
        double u = unit(seed, text);
        return u >= interval[0] && u < interval[1];
    }

    /** The point of {@code text} in [0, 1) for this task seed. */
    static double unit(long seed, String text) {
        return (mix(fnv(text) ^ mix(seed ^ 0x5DEECE66DL)) >>> 11) * 0x1.0p-53;
    }

    /** The seed of the random stream that draws candidates for one split. */
    static long streamSeed(long seed, String split) {
        return mix(seed + 0x9E3779B97F4A7C15L * (1 + fnv(split)));
    }

    private static int roundNumber(String split) {
        if (split.startsWith("round")) {
            for (int round = 1; round <= MAX_ROUNDS; round++) {
                if (split.equals("round" + round)) {
                    return round;
                }
            }
        }
        throw new BadInputException("unknown split '" + split + "': expected sft, offline, eval or round1..round"
                + MAX_ROUNDS);
    }

    /** 64-bit FNV-1a over UTF-8 bytes: stable across JVMs, unlike identity hashes. */
    private static long fnv(String text) {
        long hash = 0xcbf29ce484222325L;
        for (byte b : text.getBytes(StandardCharsets.UTF_8)) {
            hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
        }
        return hash;
    }

    /** SplitMix64's finaliser: spreads nearby inputs over all 64 bits. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
