package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * diffusers {@code UNetMidBlock2D} as the VAE uses it (one layer, no time embedding): {@code resnets.0}, then the
 * optional {@code attentions.0}, then {@code resnets.1}. Shapes: [B, C, H, W] -> [B, C, H, W].
 */
final class VaeMidBlock extends Module {

    private final List<UnaryOperator<NDArray>> steps = new ArrayList<>();

    VaeMidBlock(long channels, int groups, double eps, boolean addAttention) {
        ModuleList<ResnetBlock2D> resnets = child("resnets", new ModuleList<>());
        ResnetBlock2D first = resnets.add(new ResnetBlock2D(channels, channels, 0, groups, eps, 1.0));
        ResnetBlock2D second = resnets.add(new ResnetBlock2D(channels, channels, 0, groups, eps, 1.0));
        steps.add(x -> first.forward(x, null));
        if (addAttention) {
            ModuleList<VaeAttention> attentions = child("attentions", new ModuleList<>());
            steps.add(attentions.add(new VaeAttention(channels, channels, groups, eps, 1.0))::forward);
        }
        steps.add(x -> second.forward(x, null));
    }

    NDArray forward(NDArray x) {
        return Scopes.chain(x, steps);
    }
}
