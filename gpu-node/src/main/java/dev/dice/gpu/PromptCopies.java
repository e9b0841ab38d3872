package dev.dice.gpu;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Which rows of a batch repeat which prompt, when the batch is K copies of each of its distinct prompts. */
final class PromptCopies {
    private PromptCopies() {}

    /**
     * For each distinct prompt, in order of first appearance, the rows that hold it, in row order; null when some
     * prompt comes a different number of times than another, or every prompt only once (nothing to share).
     */
    static int[][] of(List<int[]> prompts) {
        Map<String, List<Integer>> rows = new LinkedHashMap<>();
        for (int i = 0; i < prompts.size(); i++) {
            rows.computeIfAbsent(Arrays.toString(prompts.get(i)), p -> new ArrayList<>()).add(i);
        }
        int k = rows.values().iterator().hasNext() ? rows.values().iterator().next().size() : 0;
        if (k < 2 || rows.values().stream().anyMatch(r -> r.size() != k)) {
            return null;
        }
        return rows.values().stream().map(r -> r.stream().mapToInt(Integer::intValue).toArray()).toArray(int[][]::new);
    }
}
