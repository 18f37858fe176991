package dev.jdiffuse.models.checkpoint;

import dev.jdiffuse.models.sd3.SD3TransformerConfig;
import dev.jdiffuse.models.t5.T5Config;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

/**
 * An SD 3 / 3.5 single file as {@link Sd3CheckpointDetector} reads it: the configs a diffusers folder of that model
 * would hold ({@code transformer/}, {@code vae/}, {@code text_encoder/}, {@code text_encoder_2/},
 * {@code text_encoder_3/}).
 *
 * @param clipL CLIP ViT-L ({@code text_encoders.clip_l.transformer.}), diffusers' {@code text_encoder}
 * @param clipG OpenCLIP bigG in transformers' naming ({@code text_encoders.clip_g.transformer.}), {@code text_encoder_2}
 * @param t5 the T5 v1.1 encoder's config ({@code text_encoders.t5xxl.transformer.}), or null when the file has none
 *     (the T5 part of the context is then zeros, as with a folder without {@code text_encoder_3/})
 * @param clipLProjected whether the file carries CLIP-L's {@code text_projection.weight}; released files do not,
 *     and their pooled CLIP-L output is used unprojected (diffusers loads an identity projection)
 */
public record DetectedSd3Checkpoint(SD3TransformerConfig transformer, AutoencoderKLConfig vae,
        TextEncoderSource clipL, TextEncoderSource clipG, T5Config t5, boolean clipLProjected) {
}
