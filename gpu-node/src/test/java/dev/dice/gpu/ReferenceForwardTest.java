package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The model's logits against Hugging Face's Llama written out as plain loops in doubles (modeling_llama.py:
 * RMSNorm, rotate-half rotary embeddings, grouped-query attention, SwiGLU, tied or separate head). Whatever the
 * tensor code does to save passes, the function it computes must stay this one, or real checkpoints stop loading.
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

    private static void check(LlamaConfig config, long seed) {
        int[] tokens = {1, 7, 3, 30, 12, 5, 5, 9, 21};
        try (Llama model = Llama.init(config, root.newSubManager(), seed); NDScope scope = new NDScope()) {
            Autograd.off();
            Map<String, float[]> w = new HashMap<>();
            model.parameters().forEach((name, p) -> w.put(name, p.toFloatArray()));
            int t = tokens.length;
            NDArray ids = root.create(java.util.Arrays.stream(tokens).asLongStream().toArray(), new Shape(1, t));
            NDArray positions = root.arange(0L, t, 1L, DataType.INT64).reshape(1, t);
            float[] logits = model.forward(ids, positions, Masks.causal(root, t), null).toFloatArray();
            double[][] expected = reference(config, w, tokens);
            for (int i = 0; i < t; i++) {
                for (int v = 0; v < config.vocabSize(); v++) {
                    assertEquals(expected[i][v], logits[i * config.vocabSize() + v], 1e-4, "logit [" + i + ", " + v + "]");
                }
            }
        }
    }

    private static double[][] reference(LlamaConfig c, Map<String, float[]> w, int[] tokens) {
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
                q[i] = rope(matVec(w.get(p + "self_attn.q_proj.weight"), h[i], heads * d), i, heads, d, c.ropeTheta());
                k[i] = rope(matVec(w.get(p + "self_attn.k_proj.weight"), h[i], kvHeads * d), i, kvHeads, d, c.ropeTheta());
                v[i] = matVec(w.get(p + "self_attn.v_proj.weight"), h[i], kvHeads * d);
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
                add(x[i], matVec(w.get(p + "self_attn.o_proj.weight"), y, hidden));
                double[] n = rmsNorm(x[i], w.get(p + "post_attention_layernorm.weight"), c.rmsNormEps());
                double[] gate = matVec(w.get(p + "mlp.gate_proj.weight"), n, c.intermediateSize());
                double[] up = matVec(w.get(p + "mlp.up_proj.weight"), n, c.intermediateSize());
                for (int e = 0; e < gate.length; e++) {
                    gate[e] = gate[e] / (1 + Math.exp(-gate[e])) * up[e];
                }
                add(x[i], matVec(w.get(p + "mlp.down_proj.weight"), gate, hidden));
            }
        }
        float[] head = w.get(c.tieWordEmbeddings() ? "model.embed_tokens.weight" : "lm_head.weight");
        double[][] logits = new double[t][];
        for (int i = 0; i < t; i++) {
            logits[i] = matVec(head, rmsNorm(x[i], w.get("model.norm.weight"), c.rmsNormEps()), c.vocabSize());
        }
        return logits;
    }

    /** Hugging Face's rotate_half: each head's (x1, x2) becomes (x1·cos − x2·sin, x2·cos + x1·sin). */
    private static double[] rope(double[] x, int position, int heads, int d, double theta) {
        double[] out = new double[x.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d / 2; i++) {
                double angle = position / Math.pow(theta, 2.0 * i / d);
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
