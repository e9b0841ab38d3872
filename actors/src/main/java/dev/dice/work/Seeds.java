package dev.dice.work;

/** Stable per-item seeds: a SplitMix64 mix of a base seed, a string key and an index. */
public final class Seeds {
    private Seeds() {}

    public static long of(long base, String key, int index) {
        long h = base;
        for (int i = 0; i < key.length(); i++) {
            h = mix(h + key.charAt(i));
        }
        return mix(h + index);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }
}
