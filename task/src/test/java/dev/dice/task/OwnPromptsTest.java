package dev.dice.task;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The user's prompts: the last fifth held out for evaluation, the rest taken in turn by the rounds. */
class OwnPromptsTest {

    private static List<Prompt> prompts(int n) {
        List<Prompt> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add(new Prompt("p" + i, "user", "prompt " + i, ""));
        }
        return out;
    }

    private static List<String> ids(List<Prompt> prompts) {
        return prompts.stream().map(Prompt::id).toList();
    }

    @Test
    void theLastFifthAtMostIsHeldOutForEvaluation() {
        assertEquals(List.of("p9", "p10"), ids(new OwnPrompts(prompts(10), 64).eval(64)));
        assertEquals(List.of("p10"), ids(new OwnPrompts(prompts(10), 1).eval(1)));
        assertEquals(List.of(), ids(new OwnPrompts(prompts(4), 64).eval(64)), "fewer than five prompts: none held out");
    }

    @Test
    void roundsTakeTheRestInTurnWrappingAround() {
        OwnPrompts own = new OwnPrompts(prompts(10), 64); // rounds get p1..p8
        assertEquals(List.of("p1", "p2", "p3"), ids(own.round(1, 3)));
        assertEquals(List.of("p4", "p5", "p6"), ids(own.round(2, 3)));
        assertEquals(List.of("p7", "p8", "p1"), ids(own.round(3, 3)));
        assertEquals(List.of("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8"), ids(own.round(2, 100)),
                "a round asks for more than there are: each once");
    }
}
