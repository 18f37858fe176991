package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * diffusers {@code UNetMidBlock2D} as the VAE uses it (one layer, no time embedding): {@code resnets.0}, then the
 * optional {@code attentions.0}, then {@code resnets.1}. Shapes: [B, C, H, W] -> [B, C, H, W].
 */
final class VaeMidBlock extends Module {

    private final ResnetBlock2D first;
    private final VaeAttention attention;
    private final ResnetBlock2D second;

    VaeMidBlock(long channels, int groups, double eps, boolean addAttention) {
        ModuleList<ResnetBlock2D> resnets = child("resnets", new ModuleList<>());
        this.first = resnets.add(new ResnetBlock2D(channels, channels, 0, groups, eps, 1.0));
        this.second = resnets.add(new ResnetBlock2D(channels, channels, 0, groups, eps, 1.0));
        if (addAttention) {
            ModuleList<VaeAttention> attentions = child("attentions", new ModuleList<>());
            this.attention = attentions.add(new VaeAttention(channels, channels, groups, eps, 1.0));
        } else {
            this.attention = null;
        }
    }

    NDArray forward(NDArray x) {
        NDArray h = Scoped.apply(x, v -> first.forward(v, null));
        if (attention != null) {
            h = Scoped.apply(h, attention::forward);
        }
        return Scoped.apply(h, v -> second.forward(v, null));
    }
}
