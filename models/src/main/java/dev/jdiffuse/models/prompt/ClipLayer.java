package dev.jdiffuse.models.prompt;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.clip.ClipTextOutput;

/**
 * Which CLIP hidden state becomes the UNet context.
 *
 * @param fromEnd transformers' {@code hidden_states[-fromEnd]}; 1 is the last layer
 * @param finalNorm whether {@code final_layer_norm} is applied to it
 */
public record ClipLayer(int fromEnd, boolean finalNorm) {

    public ClipLayer {
        if (fromEnd < 1) {
            throw new IllegalArgumentException("fromEnd must be >= 1: " + fromEnd);
        }
    }

    /**
     * A1111's "Clip skip" ({@code CLIP_stop_at_last_layers}) for SD1: 1 is {@code last_hidden_state}, n > 1 is
     * {@code final_layer_norm(hidden_states[-n])}. diffusers' {@code clip_skip} counts from 0: diffusers k = A1111
     * k + 1.
     */
    public static ClipLayer clipSkip(int clipSkip) {
        return new ClipLayer(clipSkip, true);
    }

    /** The raw penultimate layer, no final norm: SDXL's (both encoders) and SD3's CLIP context. */
    public static ClipLayer penultimateRaw() {
        return new ClipLayer(2, false);
    }

    /** The context of {@code out}, [B, L, D]. */
    NDArray select(ClipTextModel model, ClipTextOutput out) {
        if (fromEnd == 1 && finalNorm) {
            return out.lastHiddenState();
        }
        NDArray hidden = out.hiddenStates(fromEnd);
        return finalNorm ? model.finalLayerNorm(hidden) : hidden;
    }
}
