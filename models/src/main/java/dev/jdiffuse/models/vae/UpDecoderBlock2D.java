package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.blocks.Upsample2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * One level of the VAE decoder (diffusers {@code UpDecoderBlock2D}): {@code resnets.0..n-1} (the decoder uses
 * {@code layers_per_block + 1}), then, except at the last level, {@code upsamplers.0} (nearest 2x and a 3x3 conv).
 * Shapes: [B, in, H, W] -> [B, out, 2H, 2W] (or [B, out, H, W] at the last level).
 */
final class UpDecoderBlock2D extends Module {

    private final List<UnaryOperator<NDArray>> steps = new ArrayList<>();

    UpDecoderBlock2D(long in, long out, int layers, int groups, double eps, boolean addUpsample) {
        ModuleList<ResnetBlock2D> resnets = child("resnets", new ModuleList<>());
        for (int i = 0; i < layers; i++) {
            ResnetBlock2D resnet = resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, eps, 1.0));
            steps.add(x -> resnet.forward(x, null));
        }
        if (addUpsample) {
            ModuleList<Upsample2D> upsamplers = child("upsamplers", new ModuleList<>());
            steps.add(upsamplers.add(new Upsample2D(out, out))::forward);
        }
    }

    NDArray forward(NDArray x) {
        return Scopes.chain(x, steps);
    }
}
