package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.Downsample2D;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * One level of the VAE encoder (diffusers {@code DownEncoderBlock2D}): {@code resnets.0..n-1}, then, except at the
 * last level, {@code downsamplers.0} (stride-2 conv after padding right/bottom by one, as LDM).
 * Shapes: [B, in, H, W] -> [B, out, H/2, W/2] (or [B, out, H, W] at the last level).
 */
final class DownEncoderBlock2D extends Module {

    private final List<UnaryOperator<NDArray>> steps = new ArrayList<>();

    DownEncoderBlock2D(long in, long out, int layers, int groups, double eps, boolean addDownsample) {
        ModuleList<ResnetBlock2D> resnets = child("resnets", new ModuleList<>());
        for (int i = 0; i < layers; i++) {
            ResnetBlock2D resnet = resnets.add(new ResnetBlock2D(i == 0 ? in : out, out, 0, groups, eps, 1.0));
            steps.add(x -> resnet.forward(x, null));
        }
        if (addDownsample) {
            ModuleList<Downsample2D> downsamplers = child("downsamplers", new ModuleList<>());
            steps.add(downsamplers.add(new Downsample2D(out, out, 0))::forward);
        }
    }

    NDArray forward(NDArray x) {
        return Scopes.chain(x, steps);
    }
}
