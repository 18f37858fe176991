package dev.jdiffuse.models.unet;

/**
 * How the {@link Transformer2DModel}s of one UNet level are built.
 *
 * @param heads number of attention heads (diffusers' {@code num_attention_heads}, SD's {@code attention_head_dim})
 * @param layers transformer blocks per attention ({@code transformer_layers_per_block})
 * @param crossAttentionDim width of the text context
 * @param linearProjection proj_in/proj_out are linears (SD2, SDXL) instead of 1x1 convolutions (SD1)
 * @param upcast compute attention scores and softmax in float32 for half-precision weights
 * @param groups GroupNorm groups of the attention's input norm
 */
record AttentionSettings(int heads, int layers, int crossAttentionDim, boolean linearProjection, boolean upcast,
        int groups) {
}
