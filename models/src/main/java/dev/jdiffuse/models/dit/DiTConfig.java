package dev.jdiffuse.models.dit;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.transformer.FeedForward;

import java.nio.file.Path;
import java.util.Set;

/**
 * Hyper-parameters of diffusers' {@code DiTTransformer2DModel} (Peebles and Xie 2023) with diffusers' defaults for
 * absent fields (DiT-XL/2: 28 layers, 16 heads of 72, patch 2, 1000 classes). Only the {@code ada_norm_zero} block of
 * the paper is supported; the null class used for classifier-free guidance is label {@code numEmbedsAdaNorm}.
 */
public record DiTConfig(int inChannels, int outChannels, int numAttentionHeads, int attentionHeadDim, int numLayers,
        int patchSize, int sampleSize, String activationFn, boolean attentionBias, String normType,
        int numEmbedsAdaNorm, boolean normElementwiseAffine, double normEps, boolean upcastAttention) {

    public static DiTConfig read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static DiTConfig from(ConfigJson c) {
        String normType = c.getEnum("norm_type", "ada_norm_zero", Set.of("ada_norm_zero"));
        if (!c.has("num_embeds_ada_norm") && c.node().has("num_embeds_ada_norm")) {
            throw new ConfigException(c.source(), "num_embeds_ada_norm", "must be set for norm_type ada_norm_zero");
        }
        int inChannels = c.getInt("in_channels", 4);
        int heads = c.getInt("num_attention_heads", 16);
        int headDim = c.getInt("attention_head_dim", 72);
        if ((heads * headDim) % 4 != 0) {
            throw new ConfigException(c.source(), "attention_head_dim",
                    "heads x head dim must be divisible by 4 for 2-D sin-cos positions");
        }
        return new DiTConfig(inChannels, c.getInt("out_channels", inChannels), heads, headDim,
                c.getInt("num_layers", 28), c.getInt("patch_size", 2), c.getInt("sample_size", 32),
                c.getEnum("activation_fn", "gelu-approximate", FeedForward.ACTIVATIONS),
                c.getBool("attention_bias", true), normType, c.getInt("num_embeds_ada_norm", 1000),
                c.getBool("norm_elementwise_affine", false), c.getDouble("norm_eps", 1e-5),
                c.getBool("upcast_attention", false));
    }

    /** Width of the token stream, {@code heads x head dim}. */
    public int innerDim() {
        return numAttentionHeads * attentionHeadDim;
    }
}
