package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Keys and values of the positions seen so far, per layer, kept across decoding steps. */
public final class KvCache implements AutoCloseable {
    private final List<NDArray[]> layers = new ArrayList<>();

    NDArray[] append(int layer, NDArray k, NDArray v) {
        while (layers.size() <= layer) {
            layers.add(null);
        }
        NDArray[] old = layers.get(layer);
        NDArray[] now = old == null ? new NDArray[] {k, v}
                : new NDArray[] {NDArrays.concat(new NDList(old[0], k), 2), NDArrays.concat(new NDList(old[1], v), 2)};
        // The cache outlives the decoding step's NDScope; what it replaces is freed now.
        NDScope.unregister(now);
        if (old != null) {
            old[0].close();
            old[1].close();
        }
        layers.set(layer, now);
        return now;
    }

    /**
     * Row {@code row}'s keys and values of columns {@code from..} (its own positions, without left padding), per
     * layer as {key, value} of shape [1, G, columns − from, D]: what a continuous batch splices into a free slot.
     */
    NDArray[][] row(int row, int from) {
        NDArray[][] out = new NDArray[layers.size()][];
        NDIndex part = new NDIndex("{}:{}, :, {}:, :", row, row + 1, from);
        for (int i = 0; i < layers.size(); i++) {
            out[i] = new NDArray[] {layers.get(i)[0].get(part), layers.get(i)[1].get(part)};
            NDScope.unregister(out[i]);
        }
        return out;
    }

    /** A cache of {@code rows} rows and {@code columns} zero columns, shaped like {@code like}'s layers. */
    static KvCache zeros(NDManager manager, NDArray[][] like, int rows, int columns) {
        KvCache cache = new KvCache();
        for (NDArray[] kv : like) {
            Shape s = kv[0].getShape();
            NDArray[] now = {manager.zeros(new Shape(rows, s.get(1), columns, s.get(3)), kv[0].getDataType()),
                    manager.zeros(new Shape(rows, s.get(1), columns, s.get(3)), kv[1].getDataType())};
            NDScope.unregister(now);
            cache.layers.add(now);
        }
        return cache;
    }

    /** Writes {@code part} (from {@link #row}) into row {@code row}, ending at the last column. */
    void write(int row, NDArray[][] part) {
        for (int i = 0; i < layers.size(); i++) {
            long width = layers.get(i)[0].getShape().get(2);
            long length = part[i][0].getShape().get(2);
            NDIndex at = new NDIndex("{}:{}, :, {}:, :", row, row + 1, width - length);
            layers.get(i)[0].set(at, part[i][0]);
            layers.get(i)[1].set(at, part[i][1]);
        }
    }

    /** Adds {@code n} zero columns before the first (a longer prompt then fits in any row). */
    void prependColumns(int n) {
        for (int i = 0; i < layers.size(); i++) {
            NDArray[] old = layers.get(i);
            Shape s = old[0].getShape();
            Shape zeros = new Shape(s.get(0), s.get(1), n, s.get(3));
            NDManager m = old[0].getManager();
            NDArray[] now = {NDArrays.concat(new NDList(m.zeros(zeros, old[0].getDataType()), old[0]), 2),
                    NDArrays.concat(new NDList(m.zeros(zeros, old[1].getDataType()), old[1]), 2)};
            replace(i, now);
        }
    }

    /** Drops the first {@code n} columns: no row attends to them any more. */
    void dropColumns(int n) {
        NDIndex rest = new NDIndex(":, :, {}:, :", n);
        for (int i = 0; i < layers.size(); i++) {
            NDArray[] old = layers.get(i);
            replace(i, new NDArray[] {old[0].get(rest), old[1].get(rest)});
        }
    }

    /**
     * Keeps the given rows, in the given order; a row given twice is copied (one prompt's keys and values then serve
     * several continuations). Differentiable like {@link #append}.
     */
    void keepRows(int[] rows) {
        if (layers.isEmpty()) {
            return;
        }
        NDArray index;
        // The graph keeps the index for backward: it must live in libtorch's memory, not a Java buffer (see Scalars).
        try (NDArray buffer = layers.get(0)[0].getManager().create(Arrays.stream(rows).asLongStream().toArray())) {
            index = buffer.duplicate();
        }
        try (index) {
            NDIndex take = new NDIndex("{}", index);
            for (int i = 0; i < layers.size(); i++) {
                NDArray[] old = layers.get(i);
                replace(i, new NDArray[] {old[0].get(take), old[1].get(take)});
            }
        }
    }

    private void replace(int layer, NDArray[] now) {
        NDScope.unregister(now);
        NDArray[] old = layers.get(layer);
        old[0].close();
        old[1].close();
        layers.set(layer, now);
    }

    /** Number of positions held. */
    public long length() {
        return layers.isEmpty() || layers.get(0) == null ? 0 : layers.get(0)[0].getShape().get(2);
    }

    @Override
    public void close() {
        for (NDArray[] kv : layers) {
            if (kv != null) {
                kv[0].close();
                kv[1].close();
            }
        }
        layers.clear();
    }
}
