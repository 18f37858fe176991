package dev.jdiffuse.models.unet;

import java.util.List;

/**
 * The encoder half that {@link UNet2DConditionModel} and {@link ControlNetModel} share (diffusers builds both from the
 * same constructor arguments): {@code conv_in}, the time (and SDXL text_time) embedding, the down blocks and the mid
 * block, with every per-level list already expanded to one entry per down block.
 *
 * @param heads attention heads per level (head width = channels / heads)
 * @param midBlockType {@code UNetMidBlock2DCrossAttn}, {@code UNetMidBlock2D} or null for none
 * @param additionTimeEmbedDim width of each SDXL time-id's sinusoidal features; 0 without text_time
 * @param projectionInputDim input width of {@code add_embedding} (text_embeds + 6 * additionTimeEmbedDim); 0 without
 */
record EncoderLayout(int inChannels, int convInKernel, List<String> downBlockTypes, List<Integer> blockOutChannels,
        List<Integer> layersPerBlock, List<Integer> heads, List<Integer> transformerLayersPerBlock,
        List<Integer> crossAttentionDim, boolean useLinearProjection, boolean upcastAttention, int normNumGroups,
        double normEps, int downsamplePadding, String midBlockType, double midBlockScaleFactor, boolean flipSinToCos,
        int freqShift, int timeEmbedDim, boolean textTime, int additionTimeEmbedDim, int projectionInputDim) {

    int levels() {
        return downBlockTypes.size();
    }

    boolean hasCrossAttention(int level) {
        return UNetConfigFields.CROSS_ATTN_DOWN.equals(downBlockTypes.get(level));
    }

    AttentionSettings attention(int heads, int transformerLayers, int crossDim) {
        return new AttentionSettings(heads, transformerLayers, crossDim, useLinearProjection, upcastAttention,
                normNumGroups);
    }

    UNetDownBlock downBlock(int level) {
        int in = level == 0 ? blockOutChannels.get(0) : blockOutChannels.get(level - 1);
        int out = blockOutChannels.get(level);
        AttentionSettings attn = hasCrossAttention(level)
                ? attention(heads.get(level), transformerLayersPerBlock.get(level), crossAttentionDim.get(level))
                : null;
        boolean downsample = level < levels() - 1;
        return new UNetDownBlock(in, out, layersPerBlock.get(level), timeEmbedDim, normNumGroups, normEps, attn,
                downsample, downsamplePadding);
    }

    /** The mid block, or null when {@code mid_block_type} is null. */
    UNetMidBlock midBlock() {
        if (midBlockType == null) {
            return null;
        }
        int last = levels() - 1;
        AttentionSettings attn = UNetConfigFields.MID_CROSS_ATTN.equals(midBlockType)
                ? attention(heads.get(last), transformerLayersPerBlock.get(last), crossAttentionDim.get(last))
                : null;
        return new UNetMidBlock(blockOutChannels.get(last), timeEmbedDim, normNumGroups, normEps, midBlockScaleFactor,
                attn);
    }
}
