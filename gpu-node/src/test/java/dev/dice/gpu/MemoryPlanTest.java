package dev.dice.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The plan against figures worked out by hand for TinyModels' shape: vocab 32, hidden 32, SwiGLU 64, 2 layers, 4 query
 * heads sharing 2 key/value heads (head size 8), untied head. Pure arithmetic: no libtorch.
 */
class MemoryPlanTest {
    private static final LlamaConfig TINY = TinyModels.config(32, 32, false);
    private static final long MIB25 = GradBuckets.DEFAULT_BUCKET_BYTES;

    private static MemoryPlan.Settings settings(int trainers, int zero, boolean ckpt) {
        // micro-batch 2 rows x 8 tokens; generator 3 rows x (6 + 4); scorer 3 rows
        return new MemoryPlan.Settings(trainers, 1L << 30, zero, ckpt, 16, 8, 3, 6, 4, 3, MIB25);
    }

    @Test
    void parameterCountByHand() {
        // embed 32·32 + 2 layers · (norms 2·32 + q 32·32 + k 16·32 + v 16·32 + o 32·32 + 3 · 64·32) + norm 32 + head 32·32
        long layer = 64 + 1024 + 512 + 512 + 1024 + 3 * 2048;
        assertEquals(9280, layer);
        assertEquals(1024 + 2 * layer + 32 + 1024, TINY.parameterCount());
        assertEquals(20640, TINY.parameterCount());
    }

    @Test
    void oneLayersActivationsByHand() {
        // n = 2 rows · 8 tokens = 16, C 32, q = 4·8 = 32, kv = 2·8 = 16, I 64, S = 8
        long norms = 2 * (2 * 16 * 32 + 5 * 16); // 2208
        long qkv = 16 * 32 + 2 * 16 * 16; // 1024
        long rotate = 4 * 16 * 32 + 4 * 16 * 16; // 3072
        long repeatKv = 2 * 2 * 8 * 32; // 1024
        long scores = 3 * 2 * 4 * 8 * 8; // 1536
        long attnOut = 2 * 16 * 32 + 2 * 16 * 32; // softmax·v, reshape copy; o_proj, residual: 2048
        long mlp = 5 * 16 * 64 + 2 * 16 * 32; // 6144
        assertEquals(17056, norms + qkv + rotate + repeatKv + scores + attnOut + mlp);
        assertEquals(17056, MemoryPlan.layerFloats(TINY, 2, 8, 8));
    }

    @Test
    void trainerByHand() {
        MemoryPlan.Trainer t = MemoryPlan.of(TINY, settings(1, 0, false)).trainer();
        assertEquals(4 * 20640, t.weights());
        assertEquals(4 * 20640, t.gradients());
        assertEquals(4 * 20640, t.gradientBuckets());
        assertEquals(8 * 20640, t.optimizer());
        assertEquals(2 * 4 * 20640, t.optimizerScratch()); // one bucket holds everything: two bucket-sized temporaries
        // 2 layers · 17056 + embedding 16·32 + final norm (2·16·32 + 5·16) + rotary tables 4·8·8
        assertEquals(4 * (2 * 17056 + 512 + 1104 + 256), t.activations());
        assertEquals(4 * (2 * 16 * 32 + 3 * 16), t.logits());
        assertEquals(4 * 17056, t.backwardWorkingSet());
        long persistent = 4 * 20640 + 4 * 20640 + 8 * 20640;
        assertEquals(persistent + 143936 + 4288 + 68224, t.backwardPhase());
        assertEquals(persistent + 4 * 20640 + 8 * 20640, t.stepPhase());
        assertEquals(577920, t.peak());
    }

    @Test
    void checkpointingKeepsLayerInputsAndOneLayer() {
        MemoryPlan.Trainer t = MemoryPlan.of(TINY, settings(1, 0, true)).trainer();
        assertEquals(4 * (2 * 16 * 32 + 17056 + 1872), t.activations());
    }

    @Test
    void zeroStagesShardOptimizerThenGradients() {
        MemoryPlan.Trainer z1 = MemoryPlan.of(TINY, settings(4, 1, false)).trainer();
        assertEquals(8 * 5160, z1.optimizer());
        assertEquals(4 * 20640, z1.gradients());
        assertEquals(4 * 20640, z1.gradientBuckets());
        assertEquals(3 * 4 * 5160, z1.optimizerScratch()); // a quarter's weights and two quarter-sized temporaries
        MemoryPlan.Trainer z2 = MemoryPlan.of(TINY, settings(4, 2, false)).trainer();
        assertEquals(4 * 20640, z2.gradients()); // .grad: backward accumulates into every parameter's
        assertEquals(0, z2.gradientsKept()); // and the step releases it, bucket by bucket
        assertEquals(z2.optimizer(), z2.state());
        assertEquals(4 * 20640 + 8 * 5160, z1.state());
        assertEquals(4 * (5160 + 20640), z2.gradientBuckets()); // the owned quarter + the one (whole-model) bucket
        // its step: packing the one bucket while its .grad still exists, then the quarter and the gather's bucket
        assertEquals(4 * 20640 + 8 * 5160 + 4 * (20640 + 20640) + 3 * 4 * 5160, z2.stepPhase());
        // one trainer: stage 2 has nothing to shard over, and copies its one part out of the bucket
        assertEquals(4 * 2 * 20640, MemoryPlan.of(TINY, settings(1, 2, false)).trainer().gradientBuckets());
    }

    @Test
    void zeroTwoHoldsOneBucketBesideTheParts() {
        // 2048-float buckets (MemoryPlanTest.bucketsGroupAsGradBucketsDoes) over 3 ranks: each part ceil(b / 3)
        java.util.List<Long> buckets = MemoryPlan.bucketFloats(TINY, 4 * 2048);
        assertEquals(20640, buckets.stream().mapToLong(Long::longValue).sum());
        long parts = buckets.stream().mapToLong(b -> (b + 2) / 3).sum();
        MemoryPlan.Trainer z2 = MemoryPlan.of(TINY, new MemoryPlan.Settings(3, 1L << 30, 2, false, 16, 8, 3, 6, 4, 3,
                4 * 2048)).trainer();
        assertEquals(8 * parts, z2.optimizer());
        assertTrue(z2.gradientBuckets() > 4 * parts && z2.gradientBuckets() <= 4 * (parts + 2048),
                "parts + at most one bucket: " + z2.gradientBuckets());
    }

    @Test
    void bucketsGroupAsGradBucketsDoes() {
        assertEquals(20640, MemoryPlan.largestBucketFloats(TINY, MIB25));
        // 2048-float buckets: every MLP matrix alone, the rest grouped below 2048
        assertEquals(2048, MemoryPlan.largestBucketFloats(TINY, 4 * 2048));
        // a parameter larger than the bucket gets a bucket of its own
        assertEquals(2048, MemoryPlan.largestBucketFloats(TINY, 4 * 1000));
    }

    @Test
    void generatorKvCacheAndPrefill() {
        MemoryPlan.Generator g = MemoryPlan.of(TINY, settings(1, 0, false)).generator();
        // layers · 2 · kv_heads · head_dim · rows · (prompt + new) · 4 bytes
        assertEquals(2 * 2 * 2 * 8 * 3 * 10 * 4, g.kvCache());
        assertEquals(4L * 3 * 32, g.prefillLogits()); // the head runs only at each prompt's last position
        assertEquals(4 * (2 * MemoryPlan.layerFloats(TINY, 3, 6, 6) + 3 * 6 * 32 + 2 * 3 * 6 * 32 + 5 * 3 * 6),
                g.prefillActivations());
        assertEquals(g.weights() + g.kvCache() + Math.max(g.prefillActivations() + g.prefillLogits(),
                g.decodeWorkingSet()), g.peak());
    }

    @Test
    void generatorRowsFollowFromMemory() {
        long one = MemoryPlan.of(TINY, settings(1, 0, false).withGeneratorRows(1)).generator().peak();
        assertEquals(0, MemoryPlan.generatorRowsIn(TINY, one - 1, 6, 4));
        assertEquals(1, MemoryPlan.generatorRowsIn(TINY, one, 6, 4));
        int rows = MemoryPlan.generatorRowsIn(TINY, 10 * one, 6, 4);
        assertTrue(MemoryPlan.of(TINY, settings(1, 0, false).withGeneratorRows(rows)).generator().peak() <= 10 * one);
        assertTrue(MemoryPlan.of(TINY, settings(1, 0, false).withGeneratorRows(rows + 1)).generator().peak() > 10 * one);
        assertTrue(rows > 1);
    }

    @Test
    void fitsAndTheSmallestSettingThatDoes() {
        MemoryPlan.Settings s = new MemoryPlan.Settings(4, 500_000, 0, false, 16, 8, 3, 6, 4, 3, MIB25);
        MemoryPlan.Plan plan = MemoryPlan.of(TINY, s);
        assertFalse(plan.trainerFits()); // 577,920 bytes
        MemoryPlan.Plan fit = MemoryPlan.smallestFit(TINY, s);
        assertTrue(fit.trainerFits());
        assertEquals(1, fit.settings().zeroStage()); // checkpointing alone leaves the step phase at 577,920
        assertNull(MemoryPlan.smallestFit(TINY, new MemoryPlan.Settings(1, 100_000, 0, false, 16, 8, 3, 6, 4, 3,
                MIB25)));
    }

    @Test
    void parsesMemorySizes() {
        assertEquals(80L << 30, MemoryPlan.parseBytes("80GiB"));
        assertEquals(40_000_000_000L, MemoryPlan.parseBytes("40GB"));
        assertEquals(512L << 20, MemoryPlan.parseBytes("512 MiB"));
        assertEquals(1234, MemoryPlan.parseBytes("1234"));
        assertThrows(BadInputException.class, () -> MemoryPlan.parseBytes("lots"));
    }
}
