package dev.jdiffuse.models.checkpoint;

import java.util.ArrayList;
import java.util.List;

/**
 * What the LDM UNet's keys and shapes say ({@code model.diffusion_model.*}), as ComfyUI's
 * {@code detect_unet_config} reads them: {@code input_blocks.0.0} is conv_in ([C0, in, k, k]); each following
 * {@code input_blocks.k} is a resnet ({@code .0.in_layers}, width = {@code out_layers.3} rows) with an optional
 * transformer ({@code .1}: {@code transformer_blocks.j} count = depth, {@code attn2.to_k} [C, context] gives the
 * context width, a 2-D {@code proj_in} means linear projections), or a downsampler ({@code .0.op}) that closes a level.
 *
 * @param levelHasAttention per level, whether its resnets carry transformers
 * @param levelDepth per level, transformer blocks per resnet (0 where none)
 * @param midDepth transformer blocks of {@code middle_block.1}, 0 when the mid block has none
 * @param admInChannels {@code label_emb.0.0} input width (SDXL's pooled text + time ids), 0 when absent
 */
record LdmUnetShapes(int inChannels, int outChannels, int convInKernel, int convOutKernel, int timeEmbedDim,
        List<Integer> channels, List<Integer> layers, List<Boolean> levelHasAttention, List<Integer> levelDepth,
        boolean midBlock, int midDepth, int contextDim, boolean linearProjection, int admInChannels) {

    static final String PREFIX = "model.diffusion_model.";

    static boolean present(CheckpointShapes s) {
        return s.has(PREFIX + "input_blocks.0.0.weight");
    }

    static LdmUnetShapes read(CheckpointShapes s) {
        String p = PREFIX;
        long[] convIn = s.shape(p + "input_blocks.0.0.weight");
        List<Integer> channels = new ArrayList<>();
        List<Integer> layers = new ArrayList<>();
        List<Boolean> attention = new ArrayList<>();
        List<Integer> depth = new ArrayList<>();
        int levelCh = 0;
        int levelLayers = 0;
        int levelDepth = 0;
        int context = 0;
        Boolean linear = null;
        for (int k = 1;; k++) {
            String b = p + "input_blocks." + k + ".";
            if (s.has(b + "0.op.weight")) {
                channels.add(levelCh);
                layers.add(levelLayers);
                attention.add(levelDepth > 0);
                depth.add(levelDepth);
                levelLayers = 0;
                levelDepth = 0;
                continue;
            }
            if (!s.has(b + "0.in_layers.0.weight")) {
                break;
            }
            levelCh = s.dim(b + "0.out_layers.3.weight", 0);
            levelLayers++;
            if (s.has(b + "1.proj_in.weight")) {
                levelDepth = Math.max(levelDepth, s.count(b + "1.transformer_blocks.", ".norm1.weight"));
                context = s.dim(b + "1.transformer_blocks.0.attn2.to_k.weight", 1);
                linear = s.shape(b + "1.proj_in.weight").length == 2;
            }
        }
        if (levelLayers == 0) {
            throw new CheckpointFormatException(s.source() + ": the UNet's input_blocks end with a downsampler");
        }
        channels.add(levelCh);
        layers.add(levelLayers);
        attention.add(levelDepth > 0);
        depth.add(levelDepth);
        String mid = p + "middle_block.1.";
        int midDepth = s.has(mid + "proj_in.weight") ? s.count(mid + "transformer_blocks.", ".norm1.weight") : 0;
        if (midDepth > 0 && linear == null) {
            context = s.dim(mid + "transformer_blocks.0.attn2.to_k.weight", 1);
            linear = s.shape(mid + "proj_in.weight").length == 2;
        }
        if (linear == null) {
            throw new CheckpointFormatException(s.source() + ": the UNet has no cross-attention, so it is not a "
                    + "text-to-image Stable Diffusion UNet");
        }
        String adm = p + "label_emb.0.0.weight";
        return new LdmUnetShapes((int) convIn[1], s.dim(p + "out.2.weight", 0), (int) convIn[2],
                s.dim(p + "out.2.weight", 2), s.dim(p + "time_embed.0.weight", 0), List.copyOf(channels),
                List.copyOf(layers), List.copyOf(attention), List.copyOf(depth), s.has(p + "middle_block.0.in_layers"
                + ".0.weight"), midDepth, context, linear, s.has(adm) ? s.dim(adm, 1) : 0);
    }

    int levels() {
        return channels.size();
    }
}
