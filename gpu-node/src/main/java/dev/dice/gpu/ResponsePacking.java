package dev.dice.gpu;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Where each response of a scoring batch sits in the packed response pass. Rows of the pass are as wide as the longest
 * response ({@code width}), as padded rows would be; each holds responses of one prompt only (they all attend to that
 * prompt's cached keys), as many as fit, placed first-fit, longest first. Equal lengths give one response per row — the
 * padded layout — and ragged ones fill the room a padded row would waste, in fewer rows.
 *
 * @param width positions per packed row: the longest response
 * @param rowOf the packed row of each response
 * @param offset where each response starts in its packed row
 * @param promptOf the prompt (group) of each packed row
 */
record ResponsePacking(int width, int[] rowOf, int[] offset, int[] promptOf) {

    /** @param group each response's prompt, 0..; @param lengths each response's length (positions it needs), ≥ 1 */
    static ResponsePacking of(int[] group, int[] lengths) {
        int n = group.length;
        int width = IntStream.of(lengths).max().orElse(1);
        Integer[] order = IntStream.range(0, n).boxed().sorted(Comparator.comparingInt((Integer i) -> -lengths[i])
                .thenComparingInt(i -> i)).toArray(Integer[]::new);
        int[] rowOf = new int[n];
        int[] offset = new int[n];
        List<Integer> promptOf = new ArrayList<>();
        List<Integer> used = new ArrayList<>();
        for (int i : order) {
            int row = -1;
            for (int r = 0; r < used.size() && row < 0; r++) {
                if (promptOf.get(r) == group[i] && used.get(r) + lengths[i] <= width) {
                    row = r;
                }
            }
            if (row < 0) {
                row = used.size();
                promptOf.add(group[i]);
                used.add(0);
            }
            rowOf[i] = row;
            offset[i] = used.get(row);
            used.set(row, offset[i] + lengths[i]);
        }
        return new ResponsePacking(width, rowOf, offset, promptOf.stream().mapToInt(Integer::intValue).toArray());
    }

    int rows() {
        return promptOf.length;
    }
}
