package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.Downsample2D;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * One level of the VAE encoder (diffusers {@code DownEncoderBlock2D}): {@code resnets.0..n-1}, then, except at the
 * last level, {@code downsamplers.0} (stride-2 conv after padding right/bottom by one, as LDM).
 * Shapes: [B, in, H, W] -> [B, out, H/2, W/2] (or [B, out, H, W] at the last level).
 */
final class DownEncoderBlock2D extends Module {

    private final ModuleList<ResnetBlock2D> resnets;
    private final Downsample2D downsampler;

    DownEncoderBlock2D(long in, long out, int layers, int groups, double eps, boolean addDownsample) {
        this.resnets = child("resnets", new ModuleList<>());
        for (int i = 0; i < layers; i++) {
            resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, eps, 1.0));
        }
        if (addDownsample) {
            ModuleList<Downsample2D> downsamplers = child("downsamplers", new ModuleList<>());
            this.downsampler = downsamplers.add(new Downsample2D(out, out, 0));
        } else {
            this.downsampler = null;
        }
    }

    NDArray forward(NDArray x) {
        for (ResnetBlock2D resnet : resnets) {
            x = Scoped.apply(x, v -> resnet.forward(v, null));
        }
        return downsampler == null ? x : Scoped.apply(x, downsampler::forward);
    }
}
