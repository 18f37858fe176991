package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;

import java.util.List;

/**
 * Optional conditioning of a UNet call besides sample, timestep and text context.
 *
 * @param textEmbeds SDXL pooled text embedding [B, P] (diffusers {@code added_cond_kwargs["text_embeds"]}), or null
 * @param timeIds SDXL size/crop conditioning [B, 6] (original H, W, crop top, left, target H, W), or null
 * @param downBlockAdditionalResiduals ControlNet residuals added to the encoder's skip connections, one per skip in
 *     order (12 for SD1/SD2, 9 for SDXL), or null
 * @param midBlockAdditionalResidual ControlNet residual added to the mid block's output, or null
 */
public record UNetExtras(NDArray textEmbeds, NDArray timeIds, List<NDArray> downBlockAdditionalResiduals,
        NDArray midBlockAdditionalResidual) {

    /** No extra conditioning (SD1/SD2 without ControlNet). */
    public static final UNetExtras NONE = new UNetExtras(null, null, null, null);

    public UNetExtras {
        if ((downBlockAdditionalResiduals == null) != (midBlockAdditionalResidual == null)) {
            throw new IllegalArgumentException("ControlNet residuals need both the down-block list and the mid-block"
                    + " residual (T2I-Adapter style down-only residuals are not supported)");
        }
        if ((textEmbeds == null) != (timeIds == null)) {
            throw new IllegalArgumentException("SDXL conditioning needs both textEmbeds and timeIds");
        }
        downBlockAdditionalResiduals = downBlockAdditionalResiduals == null ? null
                : List.copyOf(downBlockAdditionalResiduals);
    }

    /** SDXL's added conditioning: pooled text embedding [B, P] and time ids [B, 6]. */
    public static UNetExtras sdxl(NDArray textEmbeds, NDArray timeIds) {
        return new UNetExtras(textEmbeds, timeIds, null, null);
    }

    /** These extras with ControlNet residuals (e.g. {@link ControlNetOutput#down()} and {@link ControlNetOutput#mid()}). */
    public UNetExtras withControl(List<NDArray> down, NDArray mid) {
        return new UNetExtras(textEmbeds, timeIds, down, mid);
    }

    public boolean hasControl() {
        return midBlockAdditionalResidual != null;
    }
}
