package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.Downsample2D;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

import java.util.ArrayList;
import java.util.List;

/**
 * One encoder level of the UNet: diffusers' {@code CrossAttnDownBlock2D} (resnet then spatial transformer, per
 * layer) or {@code DownBlock2D} (resnets only), then an optional stride-2 {@code downsamplers.0}. Every resnet /
 * attention output and the downsampled output are kept as skip connections for the decoder. Shapes: x [B, in, H, W]
 * -> skips [B, out, H, W] x layers (+ [B, out, H/2, W/2]).
 */
public final class UNetDownBlock extends Module {

    private final ModuleList<ResnetBlock2D> resnets;
    private final ModuleList<Transformer2DModel> attentions;
    private final Downsample2D downsampler;

    /** @param attention settings of the spatial transformers, or null for a {@code DownBlock2D} */
    public UNetDownBlock(int in, int out, int layers, int tembChannels, int groups, double eps,
            AttentionSettings attention, boolean downsample, int downsamplePadding) {
        this.resnets = child("resnets", new ModuleList<>());
        this.attentions = attention != null ? child("attentions", new ModuleList<>()) : null;
        for (int i = 0; i < layers; i++) {
            resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, tembChannels, groups, eps, 1.0));
            if (attentions != null) {
                attentions.add(new Transformer2DModel(out, attention));
            }
        }
        this.downsampler = downsample
                ? child("downsamplers", new ModuleList<Downsample2D>()).add(new Downsample2D(out, out,
                        downsamplePadding))
                : null;
    }

    /**
     * @param context text context [B, L, D] (unused by a {@code DownBlock2D})
     * @return the skip connections in order; the last one is the block's output
     */
    public List<NDArray> forward(NDArray x, NDArray temb, TextContext context) {
        List<NDArray> skips = new ArrayList<>(resnets.size() + 1);
        for (int i = 0; i < resnets.size(); i++) {
            x = resnets.get(i).forward(x, temb);
            if (attentions != null) {
                x = attentions.get(i).forward(x, context);
            }
            skips.add(x);
        }
        if (downsampler != null) {
            skips.add(downsampler.forward(x));
        }
        return skips;
    }
}
