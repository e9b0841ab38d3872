package dev.dice.gpu;

import java.util.List;

/**
 * What the released Llama-family checkpoints do differently from a plain Llama, as their config.json says.
 *
 * @param architecture  the family (its attention biases and query/key norms follow from it, see {@link LlamaConfig})
 * @param headDim       config.json's explicit head_dim, or 0 for hidden_size / num_attention_heads
 * @param ropeScaling   rope_scaling, or null for unscaled rotary embeddings
 * @param attentionBias attention_bias: biases on the q/k/v and output projections (Llama, Qwen3)
 * @param mlpBias       mlp_bias: biases on the MLP's three projections (Llama)
 * @param slidingWindow the attention window where one is applied (Mistral; Qwen with use_sliding_window), else 0
 * @param eosTokenIds   every end-of-sequence id of config.json and generation_config.json when there is more than
 *                      the one eos_token_id; empty otherwise
 */
public record Variant(Architecture architecture, int headDim, RopeScaling ropeScaling, boolean attentionBias,
        boolean mlpBias, int slidingWindow, List<Integer> eosTokenIds) {

    public static final Variant LLAMA = new Variant(Architecture.LLAMA, 0, null, false, false, 0, List.of());

    public Variant {
        eosTokenIds = List.copyOf(eosTokenIds);
    }
}
