package dev.dice.gpu;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The accumulated gradients packed into a few flat fp32 buffers, ready for an all-reduce. Buckets follow
 * the parameters in reverse order, the order a backward pass finishes them. {@link #buffer} is a view of
 * a bucket's memory (no copy): reduce into it in place, then the optimizer reads each parameter's
 * gradient through {@link #gradient}, a view of the same memory — so the reduced values are what it steps
 * with.
 */
public final class GradBuckets implements AutoCloseable {
    /** 25 MB, PyTorch DDP's default bucket size. */
    public static final long DEFAULT_BUCKET_BYTES = 25L << 20;

    private final List<NDArray> buckets = new ArrayList<>();
    private final List<List<String>> names = new ArrayList<>();
    private final Map<String, NDArray> views = new LinkedHashMap<>();
    private final Map<String, NDArray> params;
    private final NDManager manager;

    GradBuckets(Map<String, NDArray> params, NDManager manager, long bucketBytes) {
        this(params, manager, layout(params, bucketBytes));
        while (packed() < size()) {
            packNext();
        }
    }

    private GradBuckets(Map<String, NDArray> params, NDManager manager, List<List<String>> layout) {
        this.params = params;
        this.manager = manager;
        this.names.addAll(layout);
    }

    /** The buckets of {@code params}' gradients laid out, none packed yet: {@link #packNext} packs them in order. */
    static GradBuckets unpacked(Map<String, NDArray> params, NDManager manager, long bucketBytes) {
        return new GradBuckets(params, manager, layout(params, bucketBytes));
    }

    /**
     * The parameters of each bucket: the parameters in reverse order, cut before one that would take a bucket past
     * {@code bucketBytes} (a parameter larger than that has a bucket of its own).
     */
    public static List<List<String>> layout(Map<String, NDArray> params, long bucketBytes) {
        List<String> names = new ArrayList<>(params.keySet());
        java.util.Collections.reverse(names);
        List<List<String>> layout = new ArrayList<>();
        List<String> group = new ArrayList<>();
        long bytes = 0;
        for (String name : names) {
            long size = params.get(name).size() * 4;
            if (!group.isEmpty() && bytes + size > bucketBytes) {
                layout.add(List.copyOf(group));
                group.clear();
                bytes = 0;
            }
            group.add(name);
            bytes += size;
        }
        if (!group.isEmpty()) {
            layout.add(List.copyOf(group));
        }
        return layout;
    }

    /** Buckets packed so far: those before this index. */
    int packed() {
        return buckets.size();
    }

    /** Packs the next bucket from its parameters' gradients as they are now. */
    void packNext() {
        List<String> group = names.get(buckets.size());
        NDArray flat = pack(group, params, manager);
        buckets.add(flat);
        long offset = 0;
        for (String name : group) {
            NDArray p = params.get(name);
            NDArray view;
            try (NDArray slice = flat.get(offset + ":" + (offset + p.size()))) { // not left to a micro-batch's scope
                view = slice.reshape(p.getShape());
            }
            NDScope.unregister(view);
            view.attach(manager);
            views.put(name, view);
            offset += p.size();
        }
    }

    /** One bucket: a flat copy of the accumulated gradients of {@code names} (zeros for a parameter without one). */
    public static NDArray pack(List<String> names, Map<String, NDArray> params, NDManager manager) {
        try (NDScope scope = new NDScope()) {
            NDList grads = new NDList();
            for (String name : names) {
                NDArray g = Autograd.gradient(params.get(name));
                grads.add(g == null ? params.get(name).zerosLike().flatten() : g.flatten());
            }
            NDArray flat = NDArrays.concat(grads);
            flat.attach(manager);
            NDScope.unregister(flat);
            return flat;
        }
    }

    public int size() {
        return names.size();
    }

    /** Bucket {@code i} as native-order bytes over the tensor's own memory; writes go straight to it. */
    public ByteBuffer buffer(int i) {
        return JniUtils.getByteBuffer((PtNDArray) buckets.get(i), true);
    }

    public FloatBuffer floats(int i) {
        return buffer(i).asFloatBuffer();
    }

    /** The flat bucket tensor {@code i}. */
    public NDArray bucket(int i) {
        return buckets.get(i);
    }

    /** The parameters whose gradients bucket {@code i} holds, in their order there. */
    public List<String> names(int i) {
        return names.get(i);
    }

    /** The gradient of one parameter, a view into its bucket. */
    public NDArray gradient(String name) {
        return views.get(name);
    }

    /** Frees bucket {@code i} and its parameters' views of it (a sharded step keeps only its part). */
    public void free(int i) {
        names.get(i).forEach(name -> {
            NDArray view = views.remove(name);
            if (view != null) {
                view.close();
            }
        });
        buckets.get(i).close();
    }

    /** sqrt(Σ g²) over every bucket. */
    public double globalNorm() {
        double sum = 0;
        for (NDArray b : buckets) {
            try (NDArray sq = b.square(); NDArray s = sq.sum()) {
                sum += s.getFloat();
            }
        }
        return Math.sqrt(sum);
    }

    /** Multiplies every gradient by {@code factor}, in place (clipping, averaging across ranks). */
    public void scale(double factor) {
        for (NDArray b : buckets) {
            b.muli(factor);
        }
    }

    @Override
    public void close() {
        views.values().forEach(NDArray::close);
        buckets.forEach(NDArray::close);
    }
}
