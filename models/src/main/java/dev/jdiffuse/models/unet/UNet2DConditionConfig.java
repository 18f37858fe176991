package dev.jdiffuse.models.unet;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static dev.jdiffuse.models.unet.UNetConfigFields.CROSS_ATTN_DOWN;
import static dev.jdiffuse.models.unet.UNetConfigFields.CROSS_ATTN_UP;
import static dev.jdiffuse.models.unet.UNetConfigFields.DOWN;
import static dev.jdiffuse.models.unet.UNetConfigFields.UP;

/**
 * diffusers' {@code UNet2DConditionModel} config (SD1.x, SD2.x, SDXL layouts), with diffusers' defaults for absent
 * fields and per-level lists expanded to one entry per down block. Values this implementation does not support
 * (class embeddings, only/dual cross-attention, encoder_hid_dim, non-positional or conditioned time embeddings,
 * scale-shift resnets, GLIGEN, ...) fail in {@link #read} with a {@link ConfigException} naming the field.
 *
 * @param attentionHeads heads per level: {@code num_attention_heads} if set, else {@code attention_head_dim} (which
 *     SD configs use for the number of heads; diffusers issue #2011)
 * @param attentionHeadDim the raw {@code attention_head_dim} per level (kept for reference; see attentionHeads)
 * @param midBlockType {@code UNetMidBlock2DCrossAttn}, {@code UNetMidBlock2D}, or null for no mid block
 * @param additionEmbedType null or {@code "text_time"} (SDXL)
 * @param additionTimeEmbedDim width of each time id's sinusoidal features (SDXL: 256), 0 when unused
 * @param projectionClassEmbeddingsInputDim input width of add_embedding (SDXL: 2816), 0 when unused
 * @param sampleSize latent size the model was trained at, or 0 when absent
 */
public record UNet2DConditionConfig(int inChannels, int outChannels, boolean centerInputSample, boolean flipSinToCos,
        int freqShift, List<String> downBlockTypes, String midBlockType, List<String> upBlockTypes,
        List<Integer> blockOutChannels, List<Integer> layersPerBlock, int downsamplePadding,
        double midBlockScaleFactor, String actFn, int normNumGroups, double normEps, List<Integer> crossAttentionDim,
        List<Integer> transformerLayersPerBlock, List<Integer> attentionHeadDim, List<Integer> attentionHeads,
        boolean useLinearProjection, boolean upcastAttention, String additionEmbedType, int additionTimeEmbedDim,
        int projectionClassEmbeddingsInputDim, int timeEmbeddingDim, int convInKernel, int convOutKernel,
        int sampleSize) {

    private static final List<String> SD_DOWN = List.of(CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, CROSS_ATTN_DOWN, DOWN);
    private static final List<String> SD_UP = List.of(UP, CROSS_ATTN_UP, CROSS_ATTN_UP, CROSS_ATTN_UP);

    public static UNet2DConditionConfig read(Path configJson) {
        return from(ConfigJson.read(configJson));
    }

    public static UNet2DConditionConfig from(ConfigJson c) {
        UNetConfigFields.rejectUnsupported(c);
        List<String> down = UNetConfigFields.blockTypes(c, "down_block_types", SD_DOWN, Set.of(CROSS_ATTN_DOWN, DOWN));
        List<String> up = UNetConfigFields.blockTypes(c, "up_block_types", SD_UP, Set.of(CROSS_ATTN_UP, UP));
        int levels = down.size();
        List<Integer> channels = c.getIntList("block_out_channels", List.of(320, 640, 1280, 1280), levels);
        if (up.size() != levels || channels.size() != levels) {
            throw new ConfigException(c.source(), "up_block_types", "down_block_types (" + levels + "), "
                    + "up_block_types (" + up.size() + ") and block_out_channels (" + channels.size()
                    + ") must have the same length");
        }
        String addition = UNetConfigFields.additionEmbedType(c);
        boolean textTime = UNetConfigFields.TEXT_TIME.equals(addition);
        int addTimeDim = textTime ? UNetConfigFields.requiredFor(c, "addition_time_embed_dim", "text_time") : 0;
        int projDim = textTime
                ? UNetConfigFields.requiredFor(c, "projection_class_embeddings_input_dim", "text_time") : 0;
        int groups = c.getInt("norm_num_groups", 32);
        UNet2DConditionConfig cfg = new UNet2DConditionConfig(c.getInt("in_channels", 4), c.getInt("out_channels", 4),
                c.getBool("center_input_sample", false), c.getBool("flip_sin_to_cos", true), c.getInt("freq_shift", 0),
                down, UNetConfigFields.midBlockType(c, true), up, channels,
                UNetConfigFields.perLevel(c, "layers_per_block", 2, levels), c.getInt("downsample_padding", 1),
                c.getDouble("mid_block_scale_factor", 1.0), c.getString("act_fn", "silu"), groups,
                c.getDouble("norm_eps", 1e-5), UNetConfigFields.perLevel(c, "cross_attention_dim", 1280, levels),
                UNetConfigFields.perLevel(c, "transformer_layers_per_block", 1, levels),
                UNetConfigFields.perLevel(c, "attention_head_dim", 8, levels), UNetConfigFields.heads(c, levels),
                c.getBool("use_linear_projection", false), c.getBool("upcast_attention", false), addition, addTimeDim,
                projDim, c.getInt("time_embedding_dim", 0), c.getInt("conv_in_kernel", 3),
                c.getInt("conv_out_kernel", 3), c.getInt("sample_size", 0));
        cfg.validate(c.source());
        return cfg;
    }

    private void validate(String source) {
        for (int i = 0; i < blockOutChannels.size(); i++) {
            int ch = blockOutChannels.get(i);
            if (ch % normNumGroups != 0) {
                throw new ConfigException(source, "norm_num_groups", normNumGroups + " does not divide "
                        + "block_out_channels[" + i + "] = " + ch);
            }
            int last = blockOutChannels.size() - 1;
            boolean attends = CROSS_ATTN_DOWN.equals(downBlockTypes.get(i))
                    || CROSS_ATTN_UP.equals(upBlockTypes.get(last - i))
                    || i == last && UNetConfigFields.MID_CROSS_ATTN.equals(midBlockType);
            if (attends && ch % attentionHeads.get(i) != 0) {
                throw new ConfigException(source, "attention_head_dim", attentionHeads.get(i) + " heads do not divide "
                        + "block_out_channels[" + i + "] = " + ch);
            }
        }
        if (convInKernel % 2 == 0 || convOutKernel % 2 == 0) {
            throw new ConfigException(source, "conv_in_kernel", "even kernel sizes are not supported");
        }
    }

    /** Width of the time embedding: {@code time_embedding_dim} or 4 x block_out_channels[0]. */
    public int timeEmbedDim() {
        return timeEmbeddingDim > 0 ? timeEmbeddingDim : blockOutChannels.get(0) * 4;
    }

    public boolean isTextTime() {
        return UNetConfigFields.TEXT_TIME.equals(additionEmbedType);
    }

    public int levels() {
        return downBlockTypes.size();
    }

    EncoderLayout encoderLayout() {
        return new EncoderLayout(inChannels, convInKernel, downBlockTypes, blockOutChannels, layersPerBlock,
                attentionHeads, transformerLayersPerBlock, crossAttentionDim, useLinearProjection, upcastAttention,
                normNumGroups, normEps, downsamplePadding, midBlockType, midBlockScaleFactor, flipSinToCos, freqShift,
                timeEmbedDim(), isTextTime(), additionTimeEmbedDim, projectionClassEmbeddingsInputDim);
    }
}
