package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The model's logits against Hugging Face's Llama written out as plain loops in doubles (modeling_llama.py:
 * RMSNorm, rotate-half rotary embeddings, grouped-query attention, SwiGLU, tied or separate head), with the
 * released relatives' details (modeling_qwen2.py's q/k/v biases, modeling_qwen3.py's per-head q/k norms, Llama's
 * attention_bias, mlp_bias, head_dim and rope_scaling). Whatever the tensor code does to save passes, the function it
 * computes must stay this one, or real checkpoints stop loading. Each detail is also left out of the reference once,
 * to show that the comparison notices it.
 */
class ReferenceForwardTest {
    private static NDManager root;

    @BeforeAll
    static void start() {
        root = NDManager.newBaseManager(Device.cpu());
    }

    @AfterAll
    static void stop() {
        root.close();
    }

    @Test
    void untiedModelMatchesTheLoopReference() {
        check(TinyModels.config(32, 32, false), 31);
    }

    @Test
    void tiedModelMatchesTheLoopReference() {
        check(TinyModels.config(32, 32, true), 32);
    }

    private static final Variant LLAMA_31 = new Variant(Architecture.LLAMA, 16, new RopeScaling(RopeScaling.LLAMA3, 8,
            1, 4, 64), true, true, 0, List.of(2, 3));

    @Test
    void llama31DetailsMatchTheLoopReference() {
        check(variant(LLAMA_31, 500000.0, false), 33);
    }

    @Test
    void linearRopeScalingMatchesTheLoopReference() {
        check(variant(new Variant(Architecture.LLAMA, 0, new RopeScaling(RopeScaling.LINEAR, 4, 0, 0, 0), false, false,
                0, List.of()), 10000.0, false), 34);
    }

    @Test
    void qwen2MatchesTheLoopReference() {
        check(variant(new Variant(Architecture.QWEN2, 0, null, false, false, 0, List.of()), 1e6, true), 35);
    }

    @Test
    void qwen3MatchesTheLoopReference() {
        check(variant(new Variant(Architecture.QWEN3, 16, null, false, false, 0, List.of()), 1e6, true), 36);
    }

    /** A reference that leaves one detail out must disagree with the model: the comparison above can fail. */
    @ParameterizedTest
    @ValueSource(strings = {"bias", "qk-norm", "rope-scaling"})
    void referenceWithoutADetailDisagrees(String detail) {
        LlamaConfig config = switch (detail) {
            case "bias" -> variant(new Variant(Architecture.QWEN2, 0, null, false, false, 0, List.of()), 1e6, true);
            case "qk-norm" -> variant(new Variant(Architecture.QWEN3, 16, null, false, false, 0, List.of()), 1e6, true);
            default -> variant(LLAMA_31, 500000.0, false);
        };
        float[] logits = modelLogits(config, 37);
        double[][] broken = reference(config, weights, TOKENS, detail);
        double worst = 0;
        for (int i = 0; i < TOKENS.length; i++) {
            for (int v = 0; v < config.vocabSize(); v++) {
                worst = Math.max(worst, Math.abs(broken[i][v] - logits[i * config.vocabSize() + v]));
            }
        }
        assertTrue(worst > 1e-3, detail + ": the reference without it still agrees (max |diff| " + worst + ")");
    }

    private static LlamaConfig variant(Variant variant, double theta, boolean tied) {
        return new LlamaConfig(32, 32, 64, 2, 4, 2, 32, 1e-5, theta, tied, 1, 2, variant);
    }

    private static final int[] TOKENS = {1, 7, 3, 30, 12, 5, 5, 9, 21};
    private static Map<String, float[]> weights;

    /** The model's logits for {@link #TOKENS}; its weights are left in {@link #weights} for the reference. */
    private static float[] modelLogits(LlamaConfig config, long seed) {
        int[] tokens = TOKENS;
        try (Llama model = Llama.init(config, root.newSubManager(), seed); NDScope scope = new NDScope()) {
            Autograd.off();
            // Sharper attention than the initialisation's: positions (and so the rotary details) then move the logits.
            model.parameters().forEach((name, p) -> {
                if (name.endsWith("q_proj.weight") || name.endsWith("k_proj.weight")) {
                    p.muli(root.create(8f));
                }
            });
            weights = new HashMap<>();
            model.parameters().forEach((name, p) -> weights.put(name, p.toFloatArray()));
            int t = tokens.length;
            NDArray ids = root.create(java.util.Arrays.stream(tokens).asLongStream().toArray(), new Shape(1, t));
            NDArray positions = root.arange(0L, t, 1L, DataType.INT64).reshape(1, t);
            return model.forward(ids, positions, Masks.causal(root, t), null).toFloatArray();
        }
    }

    private static void check(LlamaConfig config, long seed) {
        float[] logits = modelLogits(config, seed);
        double[][] expected = reference(config, weights, TOKENS, "");
        for (int i = 0; i < TOKENS.length; i++) {
            for (int v = 0; v < config.vocabSize(); v++) {
                assertEquals(expected[i][v], logits[i * config.vocabSize() + v], 1e-4, "logit [" + i + ", " + v + "]");
            }
        }
    }

    /** The logits of {@code tokens}; {@code leftOut} names a detail to skip ("bias", "qk-norm", "rope-scaling"). */
    private static double[][] reference(LlamaConfig c, Map<String, float[]> w, int[] tokens, String leftOut) {
        int t = tokens.length;
        int hidden = c.hiddenSize();
        int heads = c.numAttentionHeads();
        int kvHeads = c.numKeyValueHeads();
        int d = c.headDim();
        double[][] x = new double[t][];
        for (int i = 0; i < t; i++) {
            x[i] = row(w.get("model.embed_tokens.weight"), tokens[i], hidden);
        }
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] h = new double[t][];
            double[][] q = new double[t][];
            double[][] k = new double[t][];
            double[][] v = new double[t][];
            for (int i = 0; i < t; i++) {
                h[i] = rmsNorm(x[i], w.get(p + "input_layernorm.weight"), c.rmsNormEps());
                q[i] = project(w, p + "self_attn.q_proj", h[i], heads * d, leftOut);
                k[i] = project(w, p + "self_attn.k_proj", h[i], kvHeads * d, leftOut);
                v[i] = project(w, p + "self_attn.v_proj", h[i], kvHeads * d, leftOut);
                if (c.variant().architecture() == Architecture.QWEN3 && !leftOut.equals("qk-norm")) {
                    q[i] = perHeadNorm(q[i], w.get(p + "self_attn.q_norm.weight"), d, c.rmsNormEps());
                    k[i] = perHeadNorm(k[i], w.get(p + "self_attn.k_norm.weight"), d, c.rmsNormEps());
                }
                double[] freq = frequencies(c, leftOut.equals("rope-scaling"));
                q[i] = rope(q[i], i, heads, d, freq);
                k[i] = rope(k[i], i, kvHeads, d, freq);
            }
            for (int i = 0; i < t; i++) {
                double[] y = new double[heads * d];
                for (int hd = 0; hd < heads; hd++) {
                    int kv = hd / (heads / kvHeads);
                    double[] scores = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < d; e++) {
                            scores[j] += q[i][hd * d + e] * k[j][kv * d + e];
                        }
                        scores[j] /= Math.sqrt(d);
                        max = Math.max(max, scores[j]);
                    }
                    double z = 0;
                    for (int j = 0; j <= i; j++) {
                        z += scores[j] = Math.exp(scores[j] - max);
                    }
                    for (int j = 0; j <= i; j++) {
                        for (int e = 0; e < d; e++) {
                            y[hd * d + e] += scores[j] / z * v[j][kv * d + e];
                        }
                    }
                }
                add(x[i], project(w, p + "self_attn.o_proj", y, hidden, leftOut));
                double[] n = rmsNorm(x[i], w.get(p + "post_attention_layernorm.weight"), c.rmsNormEps());
                double[] gate = project(w, p + "mlp.gate_proj", n, c.intermediateSize(), leftOut);
                double[] up = project(w, p + "mlp.up_proj", n, c.intermediateSize(), leftOut);
                for (int e = 0; e < gate.length; e++) {
                    gate[e] = gate[e] / (1 + Math.exp(-gate[e])) * up[e];
                }
                add(x[i], project(w, p + "mlp.down_proj", gate, hidden, leftOut));
            }
        }
        float[] head = w.get(c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight");
        double[][] logits = new double[t][];
        for (int i = 0; i < t; i++) {
            logits[i] = matVec(head, rmsNorm(x[i], w.get("model.norm.weight"), c.rmsNormEps()), c.vocabSize());
        }
        return logits;
    }

    /** W·x + b, the bias taken wherever the weights have one (unless biases are left out). */
    private static double[] project(Map<String, float[]> w, String name, double[] x, int out, String leftOut) {
        double[] y = matVec(w.get(name + ".weight"), x, out);
        float[] bias = w.get(name + ".bias");
        if (bias != null && !leftOut.equals("bias")) {
            for (int o = 0; o < out; o++) {
                y[o] += bias[o];
            }
        }
        return y;
    }

    private static double[] perHeadNorm(double[] x, float[] weight, int d, double eps) {
        double[] out = new double[x.length];
        for (int h = 0; h < x.length / d; h++) {
            double[] head = rmsNorm(java.util.Arrays.copyOfRange(x, h * d, (h + 1) * d), weight, eps);
            System.arraycopy(head, 0, out, h * d, d);
        }
        return out;
    }

    /**
     * θ^(−2i/D), with rope_scaling as transformers' _compute_linear_scaling_rope_parameters and
     * _compute_llama3_parameters compute it (written out again here, not shared with the model).
     */
    private static double[] frequencies(LlamaConfig c, boolean unscaled) {
        int d = c.headDim();
        RopeScaling s = unscaled ? null : c.variant().ropeScaling();
        double[] f = new double[d / 2];
        for (int i = 0; i < d / 2; i++) {
            double inv = 1 / Math.pow(c.ropeTheta(), 2.0 * i / d);
            if (s != null && s.type().equals("linear")) {
                inv /= s.factor();
            } else if (s != null) {
                double wavelen = 2 * Math.PI / inv;
                double low = s.originalMaxPositionEmbeddings() / s.lowFreqFactor();
                double high = s.originalMaxPositionEmbeddings() / s.highFreqFactor();
                double scaled = wavelen > low ? inv / s.factor() : inv;
                double smooth = (s.originalMaxPositionEmbeddings() / wavelen - s.lowFreqFactor())
                        / (s.highFreqFactor() - s.lowFreqFactor());
                boolean medium = !(wavelen < high) && !(wavelen > low);
                inv = medium ? (1 - smooth) * scaled / s.factor() + smooth * scaled : scaled;
            }
            f[i] = inv;
        }
        return f;
    }

    /** Hugging Face's rotate_half: each head's (x1, x2) becomes (x1·cos − x2·sin, x2·cos + x1·sin). */
    private static double[] rope(double[] x, int position, int heads, int d, double[] freq) {
        double[] out = new double[x.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d / 2; i++) {
                double angle = position * freq[i];
                double x1 = x[h * d + i];
                double x2 = x[h * d + i + d / 2];
                out[h * d + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
                out[h * d + i + d / 2] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
            }
        }
        return out;
    }

    private static double[] rmsNorm(double[] x, float[] weight, double eps) {
        double sq = 0;
        for (double e : x) {
            sq += e * e;
        }
        double inv = 1 / Math.sqrt(sq / x.length + eps);
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * inv * weight[i];
        }
        return out;
    }

    /** W·x for W stored [out, in] row-major, as Hugging Face's Linear weights are. */
    private static double[] matVec(float[] w, double[] x, int out) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < x.length; i++) {
                y[o] += w[o * x.length + i] * x[i];
            }
        }
        return y;
    }

    private static double[] row(float[] table, int index, int width) {
        double[] r = new double[width];
        for (int i = 0; i < width; i++) {
            r[i] = table[index * width + i];
        }
        return r;
    }

    private static void add(double[] x, double[] y) {
        for (int i = 0; i < x.length; i++) {
            x[i] += y[i];
        }
    }
}
