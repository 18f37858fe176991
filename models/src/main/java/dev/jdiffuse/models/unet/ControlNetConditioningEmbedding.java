package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

import java.util.List;

/**
 * ControlNet's control-image encoder (Zhang et al. 2023, "Adding Conditional Control to Text-to-Image Diffusion
 * Models", sec. 3.2; diffusers {@code ControlNetConditioningEmbedding}): {@code conv_in}, then per channel step a
 * 3x3 convolution and a stride-2 3x3 convolution ({@code blocks.2i}, {@code blocks.2i+1}), each followed by SiLU,
 * then {@code conv_out} to the UNet's first width. Shapes: [B, cond, H, W] -> [B, out, H / 2^(n-1), W / 2^(n-1)].
 */
public final class ControlNetConditioningEmbedding extends Module {

    private final Conv2d convIn;
    private final ModuleList<Conv2d> blocks;
    private final Conv2d convOut;

    public ControlNetConditioningEmbedding(int conditioningChannels, List<Integer> channels, int out) {
        this.convIn = child("conv_in", Conv2d.same3x3(conditioningChannels, channels.get(0)));
        this.blocks = child("blocks", new ModuleList<>());
        for (int i = 0; i < channels.size() - 1; i++) {
            blocks.add(Conv2d.same3x3(channels.get(i), channels.get(i)));
            blocks.add(new Conv2d(channels.get(i), channels.get(i + 1), 3, 2, 1, true));
        }
        this.convOut = child("conv_out", Conv2d.same3x3(channels.get(channels.size() - 1), out));
    }

    public NDArray forward(NDArray cond) {
        NDArray h = Activations.silu(convIn.forward(cond));
        for (Conv2d block : blocks) {
            h = Activations.silu(block.forward(h));
        }
        return convOut.forward(h);
    }
}
