package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * The UNet bottleneck: diffusers' {@code UNetMidBlock2DCrossAttn} (resnet, spatial transformer, resnet) or
 * {@code UNetMidBlock2D} with no attention and no extra layers (a single resnet, as SDXL-style ControlNets use).
 * Shapes: [B, C, H, W] -> [B, C, H, W].
 */
public final class UNetMidBlock extends Module {

    private final ModuleList<ResnetBlock2D> resnets;
    private final ModuleList<Transformer2DModel> attentions;

    /** @param attention settings of the middle spatial transformer, or null for {@code UNetMidBlock2D} */
    public UNetMidBlock(int channels, int tembChannels, int groups, double eps, double outputScale,
            AttentionSettings attention) {
        this.resnets = child("resnets", new ModuleList<>());
        resnets.add(new ResnetBlock2D(channels, channels, tembChannels, groups, eps, outputScale));
        if (attention != null) {
            this.attentions = child("attentions", new ModuleList<>());
            attentions.add(new Transformer2DModel(channels, attention));
            resnets.add(new ResnetBlock2D(channels, channels, tembChannels, groups, eps, outputScale));
        } else {
            this.attentions = null;
        }
    }

    public NDArray forward(NDArray x, NDArray temb, TextContext context) {
        x = resnets.get(0).forward(x, temb);
        if (attentions != null) {
            x = attentions.get(0).forward(x, context);
            x = resnets.get(1).forward(x, temb);
        }
        return x;
    }
}
