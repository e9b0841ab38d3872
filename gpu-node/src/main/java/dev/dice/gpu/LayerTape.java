package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * What a training forward pass leaves for a backward pass that runs one decoder layer at a time, from the top down
 * ({@link #backward}): after layer i's turn, the gradients of its parameters and of everything above it are final, so
 * a data-parallel trainer can send them while the layers below are still in backward.
 *
 * <p>A pass is recorded in one of two ways. <em>Kept</em>: each layer runs on a detached copy of its input that
 * requires a gradient and keeps its graph; its backward is backward(its output, the gradient of the next layer's
 * input). <em>Checkpointed</em> (activation checkpointing): only each layer's input is kept, computed with recording
 * off, and backward first recomputes the layer from it. Either way the last layer's output re-enters the graph as a
 * leaf, so the loss's own backward covers only the final norm, the head and the loss; the first layer's input is the
 * embedding's output, still in the graph, whose backward reaches the embedding table last.
 */
final class LayerTape {

    /** Decoder layer {@code index} of the model (a {@link KvCache} only in kept passes). */
    @FunctionalInterface
    interface Layer {
        NDArray apply(int index, NDArray in, NDArray[] queryRotary, NDArray[] rotary, NDArray mask, KvCache cache);
    }

    /** One forward pass: the embedding's output, each layer's input (and output, if kept), the leaf on top. */
    private record Pass(NDArray embedded, List<NDArray> inputs, List<NDArray> outputs, NDArray top,
            NDArray[] queryRotary, NDArray[] rotary, NDArray mask) {
        boolean recomputes() {
            return outputs == null;
        }
    }

    private final int layers;
    private final Layer layer;
    private final List<Pass> passes = new ArrayList<>();

    LayerTape(int layers, Layer layer) {
        this.layers = layers;
        this.layer = layer;
    }

    /** The decoder layers with their graphs kept, each on a leaf copy of its input; returns the top leaf. */
    NDArray kept(NDArray embedded, NDArray[] queryRotary, NDArray[] rotary, NDArray mask, KvCache cache) {
        List<NDArray> inputs = new ArrayList<>();
        List<NDArray> outputs = new ArrayList<>();
        NDArray x = embedded;
        for (int i = 0; i < layers; i++) {
            NDArray in = leaf(x);
            x = layer.apply(i, in, queryRotary, rotary, mask, cache);
            inputs.add(in);
            outputs.add(x);
        }
        NDArray top = leaf(x);
        passes.add(new Pass(embedded, inputs, outputs, top, queryRotary, rotary, mask));
        return top;
    }

    /**
     * The decoder layers with recording off, each in its own scope, so their intermediates are freed as the layer
     * ends; only each layer's input is kept. Returns the top leaf.
     */
    NDArray checkpointed(NDArray embedded, NDArray[] queryRotary, NDArray[] rotary, NDArray mask) {
        List<NDArray> inputs = new ArrayList<>();
        inputs.add(embedded);
        NDArray x = embedded;
        for (int i = 0; i < layers; i++) {
            NDArray out;
            JniUtils.setGradMode(false);
            try (NDScope scope = new NDScope()) {
                out = layer.apply(i, x, queryRotary, rotary, mask, null);
                NDScope.unregister(out);
            } finally {
                JniUtils.setGradMode(true);
            }
            NDScope.register(out); // the step's scope frees it
            if (i + 1 < layers) {
                inputs.add(out);
            }
            x = out;
        }
        NDArray top = leaf(x);
        passes.add(new Pass(embedded, inputs, null, top, queryRotary, rotary, mask));
        return top;
    }

    private static NDArray leaf(NDArray x) {
        NDArray leaf = x.stopGradient();
        leaf.setRequiresGradient(true);
        return leaf;
    }

    /**
     * The rest of a backward pass, after the loss's own: layer by layer from the top, every recorded pass at once, then
     * the embedding. Tells {@code finished} the lowest layer whose parameters are final after each turn: the number of
     * layers first (the head and final norm), then every layer down to 0, then −1 (the embedding: everything). Clears
     * what the forward passes left even when nothing reached them.
     */
    void backward(IntConsumer finished) {
        try {
            finished.accept(layers);
            NDArray[] grads = new NDArray[passes.size()]; // the gradient of each pass's output at the current layer
            for (int p = 0; p < passes.size(); p++) {
                NDArray g = Autograd.gradient(passes.get(p).top());
                grads[p] = g == null ? null : passes.get(p).recomputes() ? own(g.duplicate()) : g;
            }
            for (int i = layers - 1; i >= 0; i--) {
                List<NDArray[]> roots = new ArrayList<>();
                for (int p = 0; p < passes.size(); p++) {
                    Pass pass = passes.get(p);
                    if (pass.recomputes()) {
                        grads[p] = grads[p] == null ? null : recompute(pass, i, grads[p]);
                    } else if (grads[p] != null) {
                        roots.add(new NDArray[] {pass.outputs().get(i), grads[p]});
                    }
                }
                backward(roots);
                for (int p = 0; p < passes.size(); p++) {
                    if (!passes.get(p).recomputes()) {
                        // a kept pass whose output got no gradient may still feed another pass through a cache
                        grads[p] = Autograd.gradient(passes.get(p).inputs().get(i));
                    }
                }
                finished.accept(i);
            }
            List<NDArray[]> roots = new ArrayList<>();
            for (int p = 0; p < passes.size(); p++) {
                if (grads[p] != null) {
                    roots.add(new NDArray[] {passes.get(p).embedded(), grads[p]});
                }
            }
            backward(roots);
            for (int p = 0; p < passes.size(); p++) {
                if (grads[p] != null && passes.get(p).recomputes()) {
                    grads[p].close();
                }
            }
            finished.accept(-1);
        } finally {
            passes.clear();
        }
    }

    /** Recomputes layer {@code i} of a checkpointed pass from its input, back-propagates {@code g}; its input's. */
    private NDArray recompute(Pass pass, int i, NDArray g) {
        NDArray below;
        try (NDScope scope = new NDScope()) {
            NDArray in = leaf(pass.inputs().get(i));
            NDArray out = Autograd.recording(
                    () -> layer.apply(i, in, pass.queryRotary(), pass.rotary(), pass.mask(), null));
            JniUtils.backward((PtNDArray) out, (PtNDArray) g, false, false);
            below = Autograd.gradient(in).duplicate();
            NDScope.unregister(below);
        }
        g.close();
        return below;
    }

    /** An array the caller closes, outside every scope. */
    private static NDArray own(NDArray a) {
        NDScope.unregister(a);
        return a;
    }

    /**
     * backward(output, gradient) for every root in one traversal. Several roots (passes joined by a cache) go through
     * Σ sum(output · gradient), whose backward hands each output exactly its gradient (1 · g).
     */
    private static void backward(List<NDArray[]> roots) {
        if (roots.isEmpty()) {
            return;
        }
        if (roots.size() == 1) {
            JniUtils.backward((PtNDArray) roots.get(0)[0], (PtNDArray) roots.get(0)[1], false, false);
            return;
        }
        NDArray sum = Autograd.recording(() -> {
            NDArray s = null;
            for (NDArray[] root : roots) {
                NDArray term = root[0].mul(root[1]).sum();
                s = s == null ? term : s.add(term);
            }
            return s;
        });
        Autograd.backward(sum);
    }
}
