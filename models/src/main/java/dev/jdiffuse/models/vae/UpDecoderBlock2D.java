package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.blocks.Upsample2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * One level of the VAE decoder (diffusers {@code UpDecoderBlock2D}): {@code resnets.0..n-1} (the decoder uses
 * {@code layers_per_block + 1}), then, except at the last level, {@code upsamplers.0} (nearest 2x and a 3x3 conv).
 * Shapes: [B, in, H, W] -> [B, out, 2H, 2W] (or [B, out, H, W] at the last level).
 */
final class UpDecoderBlock2D extends Module {

    private final ModuleList<ResnetBlock2D> resnets;
    private final Upsample2D upsampler;

    UpDecoderBlock2D(long in, long out, int layers, int groups, double eps, boolean addUpsample) {
        this.resnets = child("resnets", new ModuleList<>());
        for (int i = 0; i < layers; i++) {
            resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, eps, 1.0));
        }
        if (addUpsample) {
            ModuleList<Upsample2D> upsamplers = child("upsamplers", new ModuleList<>());
            this.upsampler = upsamplers.add(new Upsample2D(out, out));
        } else {
            this.upsampler = null;
        }
    }

    NDArray forward(NDArray x) {
        for (ResnetBlock2D resnet : resnets) {
            x = Scoped.apply(x, v -> resnet.forward(v, null));
        }
        return upsampler == null ? x : Scoped.apply(x, upsampler::forward);
    }
}
