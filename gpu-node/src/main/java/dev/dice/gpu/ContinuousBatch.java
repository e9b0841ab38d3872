package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * One call of {@link Generator#generate}: continuous batching over a fixed number of slots. A slot whose row ends
 * (stop token or limit) takes the next row at once. Each distinct prompt is prefilled once, chunk by chunk between
 * decoding steps (a long prompt does not stall the rows in flight), and its keys and values are copied into every
 * slot that samples a continuation of it.
 *
 * <p>The slots share one KV cache whose columns they fill in step: a row occupies the last columns of its slot,
 * from its own start column on (its left padding), and sees only those. A row that joins later is written so that
 * its prompt ends at the current last column; columns no row sees any more are dropped. Each row draws from its own
 * seeded RNG and is limited by its own prompt length, so its tokens do not depend on which rows it shared steps with.
 */
final class ContinuousBatch {

    /** A distinct prompt and the rows (indices into the caller's list) that continue it. */
    private record Group(int[] tokens, Deque<Integer> rows) {}

    /** A prefilled prompt: its keys and values per layer, its last position's logits, the rows still to place. */
    private record Ready(NDArray[][] keysValues, float[] logits, int length, Deque<Integer> rows) {}

    /** Distinct prompts prefilled together, left-padded to {@code width}, {@code fed} columns so far. */
    private static final class Prefill {
        final List<Group> groups;
        final int width;
        final int[] pads;
        final KvCache cache = new KvCache();
        int fed;

        Prefill(List<Group> groups) {
            this.groups = groups;
            this.width = groups.stream().mapToInt(g -> g.tokens().length).max().orElseThrow();
            this.pads = groups.stream().mapToInt(g -> width - g.tokens().length).toArray();
        }
    }

    private final Llama model;
    private final NDManager manager;
    private final Set<Integer> stopIds;
    private final int padId;
    private final Generator.Params params;
    private final int prefillTokens;

    private final SplittableRandom[] rngs;
    private final int[] limits;
    private final int[][] out;
    private final int[] produced;
    private final int[] stops;

    private final Deque<Group> waiting = new ArrayDeque<>();
    private final Deque<Ready> ready = new ArrayDeque<>();
    private Prefill prefill;

    private KvCache cache; // [slots, G, width, D]; null while no slot is occupied
    private int width;
    private int[] slotRow; // −1: free
    private int[] slotStart;
    private int[] slotNext; // the token to feed at the next step
    private int[] slotPosition;

    ContinuousBatch(Llama model, Set<Integer> stopIds, int padId, List<int[]> prompts, Generator.Params params,
            long[] seeds, int[] maxNewTokens, Generator.Batching batching) {
        this.model = model;
        this.manager = model.manager();
        this.stopIds = stopIds;
        this.padId = padId;
        this.params = params;
        this.prefillTokens = batching.prefillTokens();
        int rows = prompts.size();
        int context = model.config().context();
        rngs = new SplittableRandom[rows];
        limits = new int[rows];
        out = new int[rows][];
        produced = new int[rows];
        stops = new int[rows];
        Arrays.fill(stops, -1);
        Map<String, Group> groups = new LinkedHashMap<>();
        for (int i = 0; i < rows; i++) {
            int[] p = prompts.get(i);
            Generator.checkPrompt(i, p.length, context);
            rngs[i] = new SplittableRandom(seeds[i]);
            limits[i] = Math.min(maxNewTokens[i], context - p.length);
            out[i] = new int[limits[i]];
            groups.computeIfAbsent(Arrays.toString(p), key -> new Group(p, new ArrayDeque<>())).rows().add(i);
        }
        waiting.addAll(groups.values());
        int slots = Math.max(1, Math.min(batching.rowsInFlight(), rows));
        slotRow = new int[slots];
        Arrays.fill(slotRow, -1);
        slotStart = new int[slots];
        slotNext = new int[slots];
        slotPosition = new int[slots];
    }

    List<Generator.Sample> run() {
        Autograd.off();
        try {
            while (!waiting.isEmpty() || prefill != null || !ready.isEmpty() || occupied() > 0) {
                place();
                if (free() > readyRows() && (prefill != null || !waiting.isEmpty())) {
                    prefillChunk();
                }
                if (occupied() > 0) {
                    decode();
                }
            }
        } finally {
            close();
        }
        List<Generator.Sample> samples = new ArrayList<>(out.length);
        for (int i = 0; i < out.length; i++) {
            samples.add(new Generator.Sample(Arrays.copyOf(out[i], produced[i]), stops[i]));
        }
        return samples;
    }

    /** Fills free slots with rows of prefilled prompts; a row whose first token already ends it takes no slot. */
    private void place() {
        for (int s = 0; s < slotRow.length && !ready.isEmpty(); s++) {
            while (slotRow[s] < 0 && !ready.isEmpty()) {
                Ready prompt = ready.peek();
                int row = prompt.rows().poll();
                int first = Generator.sample(prompt.logits(), 0, prompt.logits().length, params, rngs[row]);
                if (take(row, first)) {
                    occupy(s, row, prompt, first);
                }
                if (prompt.rows().isEmpty()) {
                    close(ready.poll().keysValues());
                }
            }
        }
    }

    private void occupy(int slot, int row, Ready prompt, int first) {
        int length = prompt.length();
        if (cache == null) {
            cache = KvCache.zeros(manager, prompt.keysValues(), slotRow.length, length);
            width = length;
        } else if (length > width) {
            cache.prependColumns(length - width);
            for (int s = 0; s < slotRow.length; s++) {
                slotStart[s] += length - width;
            }
            width = length;
        }
        cache.write(slot, prompt.keysValues());
        slotRow[slot] = row;
        slotStart[slot] = width - length;
        slotNext[slot] = first;
        slotPosition[slot] = length;
    }

    /** Records a sampled token; false when it ends the row (a stop token, or the row's limit reached). */
    private boolean take(int row, int token) {
        if (stopIds.contains(token)) {
            stops[row] = token;
            return false;
        }
        out[row][produced[row]++] = token;
        return produced[row] < limits[row];
    }

    /** Feeds the next chunk of the prompts being prefilled; when they are done they become ready to place. */
    private void prefillChunk() {
        if (prefill == null) {
            List<Group> next = new ArrayList<>();
            int rows = 0;
            while (!waiting.isEmpty() && (next.isEmpty() || rows < free() - readyRows())) {
                Group g = waiting.poll();
                next.add(g);
                rows += g.rows().size();
            }
            prefill = new Prefill(next);
        }
        Prefill p = prefill;
        int n = p.groups.size();
        int to = Math.min(p.width, p.fed + Math.max(1, prefillTokens / n));
        int t = to - p.fed;
        long[] tokens = new long[n * t];
        long[] positions = new long[n * t];
        for (int b = 0; b < n; b++) {
            int[] prompt = p.groups.get(b).tokens();
            for (int j = 0; j < t; j++) {
                int column = p.fed + j;
                int at = column - p.pads[b];
                tokens[b * t + j] = at >= 0 ? prompt[at] : padId;
                positions[b * t + j] = Math.max(0, at);
            }
        }
        float[] logits = null;
        try (NDScope scope = new NDScope()) {
            NDArray hidden = model.hidden(manager.create(tokens, new Shape(n, t)), manager.create(positions,
                    new Shape(n, t)), Masks.leftPadded(manager, p.pads, t, to), p.cache);
            if (to == p.width) {
                logits = model.head(hidden.get(":, -1:, :")).toFloatArray();
            }
        }
        p.fed = to;
        if (logits != null) {
            int vocab = logits.length / n;
            for (int b = 0; b < n; b++) {
                Group g = p.groups.get(b);
                ready.add(new Ready(p.cache.row(b, p.pads[b]), Arrays.copyOfRange(logits, b * vocab, (b + 1) * vocab),
                        g.tokens().length, g.rows()));
            }
            p.cache.close();
            prefill = null;
        }
    }

    /** One token for every occupied slot; free slots feed padding that sees only itself. */
    private void decode() {
        int slots = slotRow.length;
        long[] tokens = new long[slots];
        long[] positions = new long[slots];
        int[] starts = new int[slots];
        for (int s = 0; s < slots; s++) {
            boolean busy = slotRow[s] >= 0;
            tokens[s] = busy ? slotNext[s] : padId;
            positions[s] = busy ? slotPosition[s] : 0;
            starts[s] = busy ? slotStart[s] : width;
        }
        float[] logits;
        try (NDScope scope = new NDScope()) {
            logits = model.head(model.hidden(manager.create(tokens, new Shape(slots, 1)), manager.create(positions,
                    new Shape(slots, 1)), Masks.leftPadded(manager, starts, 1, width + 1), cache)).toFloatArray();
        }
        width++;
        int vocab = logits.length / slots;
        for (int s = 0; s < slots; s++) {
            int row = slotRow[s];
            if (row >= 0) {
                int next = Generator.sample(logits, s * vocab, vocab, params, rngs[row]);
                if (take(row, next)) {
                    slotNext[s] = next;
                    slotPosition[s]++;
                } else {
                    slotRow[s] = -1;
                }
            }
        }
        shrink();
    }

    /**
     * Drops the columns no occupied row sees; once no row waits for a slot, halves the slots when half of them are
     * free (the rows in flight no longer pay for finished ones).
     */
    private void shrink() {
        int busy = occupied();
        if (busy == 0) {
            cache.close();
            cache = null;
            width = 0;
            return;
        }
        int dead = width;
        for (int s = 0; s < slotRow.length; s++) {
            if (slotRow[s] >= 0) {
                dead = Math.min(dead, slotStart[s]);
            }
        }
        if (dead > 0) {
            cache.dropColumns(dead);
            width -= dead;
            for (int s = 0; s < slotRow.length; s++) {
                slotStart[s] = Math.max(0, slotStart[s] - dead);
            }
        }
        if (waiting.isEmpty() && prefill == null && ready.isEmpty() && busy <= slotRow.length / 2) {
            int[] keep = new int[busy];
            for (int s = 0, k = 0; s < slotRow.length; s++) {
                if (slotRow[s] >= 0) {
                    keep[k++] = s;
                }
            }
            cache.keepRows(keep);
            slotRow = pick(slotRow, keep);
            slotStart = pick(slotStart, keep);
            slotNext = pick(slotNext, keep);
            slotPosition = pick(slotPosition, keep);
        }
    }

    private static int[] pick(int[] values, int[] keep) {
        int[] out = new int[keep.length];
        for (int i = 0; i < keep.length; i++) {
            out[i] = values[keep[i]];
        }
        return out;
    }

    private int occupied() {
        int n = 0;
        for (int row : slotRow) {
            n += row >= 0 ? 1 : 0;
        }
        return n;
    }

    private int free() {
        return slotRow.length - occupied();
    }

    private int readyRows() {
        return ready.stream().mapToInt(r -> r.rows().size()).sum();
    }

    private void close() {
        if (cache != null) {
            cache.close();
        }
        if (prefill != null) {
            prefill.cache.close();
        }
        ready.forEach(r -> close(r.keysValues()));
    }

    private static void close(NDArray[][] keysValues) {
        for (NDArray[] kv : keysValues) {
            kv[0].close();
            kv[1].close();
        }
    }
}
