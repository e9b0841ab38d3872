package dev.dice.task;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class OfflinePairsTest {

    private final BuiltinTask task = new BuiltinTask(3);
    private final Judge judge = new Judge();

    @Test
    void chosenIsBetterThanRejectedInAClearMajority() {
        List<Prompt> prompts = task.prompts("offline", 2000);
        OfflinePairs set = OfflinePairs.build(task, judge, prompts, new SplittableRandom(1));
        OfflinePairs.Stats stats = set.stats();
        System.out.println(stats);
        assertEquals(2000, stats.pairs());
        assertTrue(stats.chosenBetter() > 0.65, stats.toString());
        assertTrue(stats.chosenWorse() < 0.10, stats.toString());
        assertEquals(1.0, stats.chosenBetter() + stats.chosenWorse() + stats.tied(), 1e-9);
        assertTrue(stats.meanLengthGap() > 0, "a length-biased judge picks longer responses");
        for (OfflinePair pair : set.pairs()) {
            assertNotEquals(pair.chosen(), pair.rejected());
        }
        assertEquals(prompts.get(0).id(), set.pairs().get(0).promptId());
    }

    @Test
    void extraResponsesJoinTheCandidatesAndBuildIsDeterministic() {
        List<Prompt> prompts = task.prompts("offline", 200);
        String modelSample = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"; // long and wrong: rejected when drawn
        OfflinePairs withExtra = OfflinePairs.build(task, judge, prompts, p -> List.of(modelSample),
                new SplittableRandom(2));
        assertTrue(withExtra.pairs().stream().anyMatch(pair -> pair.rejected().equals(modelSample)));
        assertEquals(withExtra, OfflinePairs.build(task, judge, prompts, p -> List.of(modelSample),
                new SplittableRandom(2)));
    }

    @Test
    void tournamentPicksTheClearWinnerAndBreaksTiesAtRandom() {
        Prompt p = new Prompt("x", "add", "add: 23+58", "81");
        SplittableRandom rng = new SplittableRandom(1);
        int[] picks = new int[3];
        for (int i = 0; i < 3000; i++) {
            assertEquals(1, OfflinePairs.tournamentWinner(judge, p, List.of("23+58", "81", "18"), rng));
            picks[OfflinePairs.tournamentWinner(judge, p, List.of("81", "81", "81"), rng)]++;
        }
        for (int count : picks) {
            assertEquals(1000, count, 120, "equal candidates win equally often");
        }
    }
}
