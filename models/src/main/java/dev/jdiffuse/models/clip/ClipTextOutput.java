package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;

import java.util.List;

/**
 * The outputs of a CLIP text encoder for a batch, all in the manager of the input ids.
 *
 * @param lastHiddenState [B, L, D], the last layer's output after {@code final_layer_norm}
 * @param hiddenStates transformers' {@code hidden_states}: the embeddings then each layer's output, none of them
 *     normalised by {@code final_layer_norm} (N + 1 entries of [B, L, D])
 * @param pooled [B, D], {@code lastHiddenState} at each row's EOS position (transformers' {@code pooler_output})
 * @param textEmbeds [B, projection_dim], {@code text_projection(pooled)}; null for a model without projection
 */
public record ClipTextOutput(NDArray lastHiddenState, List<NDArray> hiddenStates, NDArray pooled,
        NDArray textEmbeds) {

    /**
     * transformers' {@code hidden_states[-fromEnd]}: 1 is the last layer's output before the final norm, 2 the
     * penultimate layer's output (SDXL's context; "clip skip 2").
     */
    public NDArray hiddenStates(int fromEnd) {
        if (fromEnd < 1 || fromEnd > hiddenStates.size()) {
            throw new IllegalArgumentException("fromEnd must be in 1.." + hiddenStates.size() + ": " + fromEnd);
        }
        return hiddenStates.get(hiddenStates.size() - fromEnd);
    }

    /** {@code hidden_states[-2]}. */
    public NDArray penultimate() {
        return hiddenStates(2);
    }
}
