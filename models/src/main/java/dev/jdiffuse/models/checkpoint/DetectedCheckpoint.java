package dev.jdiffuse.models.checkpoint;

import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

/**
 * A Stable Diffusion single-file checkpoint as {@link CheckpointDetector} reads it: the family and the configs a
 * diffusers folder of that model would hold.
 *
 * @param textEncoder the (first) CLIP text encoder; null for the SDXL refiner, which has only the second
 * @param textEncoder2 SDXL's second (OpenCLIP bigG, with projection) encoder, the refiner's only one; null for
 *     SD 1.x / 2.x
 * @param predictionType {@code epsilon} or {@code v_prediction}, for the scheduler config
 * @param predictionReason why (a {@code v_pred} key, the SD 2.x 768-v convention, an override, the default)
 */
public record DetectedCheckpoint(CheckpointFamily family, UNet2DConditionConfig unet, AutoencoderKLConfig vae,
        TextEncoderSource textEncoder, TextEncoderSource textEncoder2, String predictionType,
        String predictionReason) {

    public static final String EPSILON = "epsilon";
    public static final String V_PREDICTION = "v_prediction";

    /** SDXL base or refiner (a second, pooled text encoder and time ids). */
    public boolean isSdxl() {
        return textEncoder2 != null;
    }
}
