package dev.dice.algo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ReplayMixTest {

    /** Stand-ins for the two pair types: only the prompt matters here. */
    record Generated(String prompt, int id) {}

    record Offline(String prompt, int id) {}

    static List<Generated> generated(int n) {
        List<Generated> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Generated("g" + i, i));
        }
        return out;
    }

    /** n offline pairs; the first {@code overlapping} use the generated prompts g0, g1, ... */
    static List<Offline> offline(int n, int overlapping) {
        List<Offline> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Offline(i < overlapping ? "g" + i : "o" + i, i));
        }
        return out;
    }

    static ReplayMix.Mix<Generated, Offline> mix(List<Generated> gen, List<Offline> off, double gamma, long seed) {
        return ReplayMix.mix(gen, off, Generated::prompt, Offline::prompt, gamma, seed);
    }

    @Test
    void gammaZeroTakesNoOfflinePairs() {
        ReplayMix.Mix<Generated, Offline> m = mix(generated(60), offline(100, 0), 0.0, 1);
        assertEquals(60, m.generated().size());
        assertEquals(0, m.offline().size());
        assertEquals(0, m.shortfall());
        // The method's formula caps n_gen by N_off even without replay.
        assertEquals(40, mix(generated(60), offline(40, 0), 0.0, 1).generated().size());
    }

    @Test
    void gammaHalfMixesEqually() {
        ReplayMix.Mix<Generated, Offline> m = mix(generated(80), offline(100, 0), 0.5, 1);
        assertEquals(50, m.generated().size()); // min(100·0.5, 80)
        assertEquals(50, m.offline().size());
        assertEquals(0, m.shortfall());

        ReplayMix.Mix<Generated, Offline> fewGenerated = mix(generated(30), offline(100, 0), 0.5, 1);
        assertEquals(30, fewGenerated.generated().size());
        assertEquals(30, fewGenerated.offline().size());
    }

    @Test
    void gammaQuarter() {
        ReplayMix.Mix<Generated, Offline> m = mix(generated(200), offline(100, 0), 0.25, 1);
        assertEquals(75, m.generated().size()); // min(100·0.75, 200)
        assertEquals(25, m.offline().size());   // 0.25·75/0.75

        ReplayMix.Mix<Generated, Offline> small = mix(generated(10), offline(100, 0), 0.25, 1);
        assertEquals(10, small.generated().size());
        assertEquals(3, small.offline().size()); // 3.33 rounds to 3
        assertEquals(4, ReplayMix.offlineCount(11, 0.25)); // 3.67 rounds to 4
    }

    @Test
    void countsSurviveBinaryRoundingOfGamma() {
        assertEquals(1, ReplayMix.generatedCount(10, 100, 0.9)); // 10·(1 − 0.9) is 0.99999... in binary
        assertEquals(9, ReplayMix.offlineCount(1, 0.9));
        assertEquals(3, ReplayMix.generatedCount(10, 100, 0.7));
    }

    @Test
    void offlinePairsNeverShareAPromptWithTheGeneratedSample() {
        // Offline pairs 0..149 use prompts g0..g149, some of which are generated; 150..299 are offline-only.
        List<Generated> gen = generated(200);
        ReplayMix.Mix<Generated, Offline> m = mix(gen, offline(300, 150), 0.5, 42);
        Set<String> generatedPrompts = new HashSet<>();
        m.generated().forEach(g -> generatedPrompts.add(g.prompt()));
        assertEquals(150, m.generated().size());
        for (Offline o : m.offline()) {
            assertTrue(!generatedPrompts.contains(o.prompt()), "shared prompt " + o.prompt());
        }
        assertEquals(150, m.offline().size() + m.shortfall());
    }

    @Test
    void shortfallWhenTooFewOfflinePairsLieOutsideTheGeneratedPrompts() {
        // 40 offline pairs all on prompts g0..g29, plus 5 on prompts nobody generated. γ = 0.25: n_gen =
        // min(floor(45·0.75), 30) = 30 takes every generated prompt; n_off = 10, but only the 5 others are eligible.
        List<Offline> off = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            off.add(new Offline("g" + (i % 30), i));
        }
        for (int i = 0; i < 5; i++) {
            off.add(new Offline("x" + i, 40 + i));
        }
        ReplayMix.Mix<Generated, Offline> m = mix(generated(30), off, 0.25, 3);
        assertEquals(30, m.generated().size());
        assertEquals(5, m.offline().size());
        assertEquals(5, m.shortfall());
        assertTrue(m.offline().stream().allMatch(o -> o.prompt().startsWith("x")));

        ReplayMix.Mix<Generated, Offline> none = mix(generated(30), off.subList(0, 40), 0.25, 3);
        assertEquals(30, none.generated().size());
        assertEquals(0, none.offline().size());
        assertEquals(10, none.shortfall());
    }

    @Test
    void sameSeedSameMixOtherSeedOtherMix() {
        List<Generated> gen = generated(500);
        List<Offline> off = offline(600, 300);
        ReplayMix.Mix<Generated, Offline> a = mix(gen, off, 0.5, 123);
        ReplayMix.Mix<Generated, Offline> b = mix(gen, off, 0.5, 123);
        ReplayMix.Mix<Generated, Offline> c = mix(gen, off, 0.5, 124);
        assertEquals(a, b);
        assertNotEquals(a.generated(), c.generated());
        assertNotEquals(a.offline(), c.offline());
        assertEquals(a.generated().size(), new HashSet<>(a.generated()).size(), "no pair twice");
        assertEquals(a.offline().size(), new HashSet<>(a.offline()).size(), "no pair twice");
        List<Integer> ids = a.generated().stream().map(Generated::id).toList();
        assertEquals(ids.stream().sorted().toList(), ids, "input order kept");
    }

    @Test
    void gammaOutsideZeroToOneIsRefused() {
        for (double gamma : new double[] {1.0, 1.5, -0.1, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> mix(generated(10), offline(10, 0), gamma, 1));
            assertTrue(e.getMessage().contains("gamma"), e.getMessage());
        }
    }
}
