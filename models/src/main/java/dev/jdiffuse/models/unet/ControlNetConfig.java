package dev.jdiffuse.models.unet;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static dev.jdiffuse.models.unet.UNetConfigFields.CROSS_ATTN_DOWN;
import static dev.jdiffuse.models.unet.UNetConfigFields.DOWN;

/**
 * diffusers' {@code ControlNetModel} config: the encoder half of a UNet config plus the control-image embedding
 * ({@code conditioning_channels}, {@code conditioning_embedding_out_channels}, channel order). Unsupported values
 * ({@code global_pool_conditions}, class embeddings, encoder_hid_dim, ...) fail with a {@link ConfigException}
 * naming the field.
 *
 * @param attentionHeads heads per level ({@code num_attention_heads} if set, else {@code attention_head_dim})
 * @param midBlockType {@code UNetMidBlock2DCrossAttn} or {@code UNetMidBlock2D}
 * @param channelOrder {@code "rgb"} or {@code "bgr"} (the control image's channels are flipped for bgr)
 */
public record ControlNetConfig(int inChannels, int conditioningChannels, boolean flipSinToCos, int freqShift,
        List<String> downBlockTypes, List<Integer> blockOutChannels, int layersPerBlock, int downsamplePadding,
        double midBlockScaleFactor, String actFn, int normNumGroups, double normEps, int crossAttentionDim,
        List<Integer> transformerLayersPerBlock, List<Integer> attentionHeads, boolean useLinearProjection,
        boolean upcastAttention, String additionEmbedType, int additionTimeEmbedDim,
        int projectionClassEmbeddingsInputDim, String channelOrder, List<Integer> conditioningEmbeddingOutChannels,
        String midBlockType) {

    private static final List<String> SD_DOWN = List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN);

    public static ControlNetConfig read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static ControlNetConfig from(ConfigJson c) {
        UNetConfigFields.rejectUnsupported(c);
        c.requireAbsentOr("global_pool_conditions", false);
        List<String> down = UNetConfigFields.blockTypes(c, "down_block_types", SD_DOWN, Set.of(CROSS_ATTN_DOWN, DOWN));
        int levels = down.size();
        List<Integer> channels = c.getIntList("block_out_channels", List.of(320, 640, 1280, 1280), levels);
        if (channels.size() != levels) {
            throw new ConfigException(c.source(), "block_out_channels", "has " + channels.size()
                    + " entries, down_block_types has " + levels);
        }
        String addition = UNetConfigFields.additionEmbedType(c);
        boolean textTime = UNetConfigFields.TEXT_TIME.equals(addition);
        ControlNetConfig cfg = new ControlNetConfig(c.getInt("in_channels", 4), c.getInt("conditioning_channels", 3),
                c.getBool("flip_sin_to_cos", true), c.getInt("freq_shift", 0), down, channels,
                c.getInt("layers_per_block", 2), c.getInt("downsample_padding", 1),
                c.getDouble("mid_block_scale_factor", 1.0), c.getString("act_fn", "silu"),
                c.getInt("norm_num_groups", 32), c.getDouble("norm_eps", 1e-5), c.getInt("cross_attention_dim", 1280),
                UNetConfigFields.perLevel(c, "transformer_layers_per_block", 1, levels),
                UNetConfigFields.heads(c, levels), c.getBool("use_linear_projection", false),
                c.getBool("upcast_attention", false), addition,
                textTime ? UNetConfigFields.requiredFor(c, "addition_time_embed_dim", "text_time") : 0,
                textTime ? UNetConfigFields.requiredFor(c, "projection_class_embeddings_input_dim", "text_time") : 0,
                c.getEnum("controlnet_conditioning_channel_order", "rgb", Set.of("rgb", "bgr")),
                c.getIntList("conditioning_embedding_out_channels", List.of(16, 32, 96, 256), 1),
                UNetConfigFields.midBlockType(c, false));
        for (int i = 0; i < levels; i++) {
            if (channels.get(i) % cfg.normNumGroups() != 0) {
                throw new ConfigException(c.source(), "norm_num_groups", cfg.normNumGroups() + " does not divide "
                        + "block_out_channels[" + i + "] = " + channels.get(i));
            }
        }
        return cfg;
    }

    public int timeEmbedDim() {
        return blockOutChannels.get(0) * 4;
    }

    public boolean isTextTime() {
        return UNetConfigFields.TEXT_TIME.equals(additionEmbedType);
    }

    EncoderLayout encoderLayout() {
        int levels = downBlockTypes.size();
        return new EncoderLayout(inChannels, 3, downBlockTypes, blockOutChannels,
                java.util.Collections.nCopies(levels, layersPerBlock), attentionHeads, transformerLayersPerBlock,
                java.util.Collections.nCopies(levels, crossAttentionDim), useLinearProjection, upcastAttention,
                normNumGroups, normEps, downsamplePadding, midBlockType, midBlockScaleFactor, flipSinToCos, freqShift,
                timeEmbedDim(), isTextTime(), additionTimeEmbedDim, projectionClassEmbeddingsInputDim);
    }
}
