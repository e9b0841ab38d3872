package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import java.util.ArrayList;
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
     * Repeats the rows {@code copies} times along the batch (row r also becomes rows r + B, r + 2B, ...):
     * one prompt's keys and values then serve several continuations. Differentiable like {@link #append}.
     */
    void repeatRows(int copies) {
        for (int i = 0; i < layers.size(); i++) {
            NDArray[] old = layers.get(i);
            NDList ks = new NDList();
            NDList vs = new NDList();
            for (int c = 0; c < copies; c++) {
                ks.add(old[0]);
                vs.add(old[1]);
            }
            NDArray[] now = {NDArrays.concat(ks, 0), NDArrays.concat(vs, 0)};
            NDScope.unregister(now);
            old[0].close();
            old[1].close();
            layers.set(i, now);
        }
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
