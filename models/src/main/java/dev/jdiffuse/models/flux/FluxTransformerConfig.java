package dev.jdiffuse.models.flux;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

import java.nio.file.Path;
import java.util.List;

/**
 * Hyper-parameters of diffusers' {@code FluxTransformer2DModel} (Black Forest Labs' FLUX.1), with diffusers' defaults
 * for absent fields (FLUX.1-dev: 19 double-stream and 38 single-stream blocks of 24 heads x 128, a 4096-wide T5
 * context, a 768-wide pooled CLIP-L vector, RoPE axes 16 + 56 + 56). {@code guidanceEmbeds} is true for the
 * guidance-distilled models (dev), false for schnell. The latents arrive packed: {@code inChannels} = 4 x the VAE's
 * latent channels (2x2 patches), {@code patchSize} 1.
 */
public record FluxTransformerConfig(int patchSize, int inChannels, int outChannels, int numLayers,
        int numSingleLayers, int attentionHeadDim, int numAttentionHeads, int jointAttentionDim,
        int pooledProjectionDim, boolean guidanceEmbeds, List<Integer> axesDimsRope) {

    public FluxTransformerConfig {
        axesDimsRope = List.copyOf(axesDimsRope);
    }

    public static FluxTransformerConfig read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static FluxTransformerConfig from(ConfigJson c) {
        int patch = c.getInt("patch_size", 1);
        if (patch != 1) {
            throw new ConfigException(c.source(), "patch_size", "FLUX packs 2x2 latent patches before the "
                    + "transformer; only patch_size 1 is supported, got " + patch);
        }
        int in = c.getInt("in_channels", 64);
        int headDim = c.getInt("attention_head_dim", 128);
        List<Integer> axes = c.getIntList("axes_dims_rope", List.of(16, 56, 56), 3);
        int sum = axes.stream().mapToInt(Integer::intValue).sum();
        if (sum != headDim) {
            throw new ConfigException(c.source(), "axes_dims_rope", "must add up to attention_head_dim (" + headDim
                    + "), got " + axes);
        }
        for (int a : axes) {
            if (a <= 0 || a % 2 != 0) {
                throw new ConfigException(c.source(), "axes_dims_rope", "each axis needs an even, positive width: "
                        + axes);
            }
        }
        if (in % 4 != 0) {
            throw new ConfigException(c.source(), "in_channels", "must be 4 x the latent channels (2x2 packing), got "
                    + in);
        }
        return new FluxTransformerConfig(patch, in, c.getInt("out_channels", in), c.getInt("num_layers", 19),
                c.getInt("num_single_layers", 38), headDim, c.getInt("num_attention_heads", 24),
                c.getInt("joint_attention_dim", 4096), c.getInt("pooled_projection_dim", 768),
                c.getBool("guidance_embeds", false), axes);
    }

    /** Width of the token streams, {@code heads x head dim}. */
    public int innerDim() {
        return numAttentionHeads * attentionHeadDim;
    }

    /** Latent channels the VAE gives (before 2x2 packing). */
    public int latentChannels() {
        return inChannels / 4;
    }
}
