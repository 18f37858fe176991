package dev.jdiffuse.models.sd3;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * Hyper-parameters of diffusers' {@code SD3Transformer2DModel}, the MMDiT of Stable Diffusion 3 / 3.5 (Esser et al.
 * 2024), with diffusers' defaults for absent fields (SD3-medium: 24 layers of 24 heads x 64 are set by its config).
 * {@code dualAttentionLayers} lists the blocks with SD3.5's extra image self-attention (MMDiT-X); {@code qkNorm} is null
 * or "rms_norm".
 */
public record SD3TransformerConfig(int sampleSize, int patchSize, int inChannels, int numLayers, int attentionHeadDim,
        int numAttentionHeads, int jointAttentionDim, int captionProjectionDim, int pooledProjectionDim,
        int outChannels, int posEmbedMaxSize, List<Integer> dualAttentionLayers, String qkNorm) {

    public static SD3TransformerConfig read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static SD3TransformerConfig from(ConfigJson c) {
        int heads = c.getInt("num_attention_heads", 18);
        int headDim = c.getInt("attention_head_dim", 64);
        int inner = heads * headDim;
        int inChannels = c.getInt("in_channels", 16);
        int numLayers = c.getInt("num_layers", 18);
        int caption = c.getInt("caption_projection_dim", 1152);
        if (caption != inner) {
            throw new ConfigException(c.source(), "caption_projection_dim", "must equal num_attention_heads x "
                    + "attention_head_dim (" + inner + "): the joint blocks run the context at that width");
        }
        if (inner % 4 != 0) {
            throw new ConfigException(c.source(), "attention_head_dim",
                    "heads x head dim must be divisible by 4 for 2-D sin-cos positions");
        }
        List<Integer> dual = c.getIntList("dual_attention_layers", List.of(), 0);
        for (int i : dual) {
            if (i < 0 || i >= numLayers) {
                throw new ConfigException(c.source(), "dual_attention_layers", "layer " + i + " outside [0, "
                        + numLayers + ")");
            }
        }
        int maxSize = c.getInt("pos_embed_max_size", 96);
        if (maxSize <= 0) {
            throw new ConfigException(c.source(), "pos_embed_max_size", "must be positive");
        }
        int out = c.getInt("out_channels", 16);
        return new SD3TransformerConfig(c.getInt("sample_size", 128), c.getInt("patch_size", 2), inChannels,
                numLayers, headDim, heads, c.getInt("joint_attention_dim", 4096), caption,
                c.getInt("pooled_projection_dim", 2048), out, maxSize, dual,
                c.getEnum("qk_norm", null, Set.of("rms_norm")));
    }

    /** Width of the token streams, {@code heads x head dim}. */
    public int innerDim() {
        return numAttentionHeads * attentionHeadDim;
    }
}
