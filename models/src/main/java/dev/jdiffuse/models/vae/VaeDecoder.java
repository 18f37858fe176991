package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.GroupNorm;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * The KL-VAE decoder (diffusers {@code Decoder}, group norm): {@code conv_in}, the mid block, the up levels in
 * reversed channel order (each {@code layers_per_block + 1} resnets), {@code conv_norm_out}, SiLU, {@code conv_out}.
 * Shapes: [B, latent, h, w] -> [B, out, h * f, w * f] with f = 2^(levels - 1).
 */
final class VaeDecoder extends Module {

    private final List<UnaryOperator<NDArray>> steps = new ArrayList<>();

    VaeDecoder(AutoencoderKLConfig c) {
        List<Integer> ch = c.blockOutChannels();
        int groups = c.normNumGroups();
        double eps = VaeEncoder.EPS;
        long top = ch.get(ch.size() - 1);
        steps.add(child("conv_in", Conv2d.same3x3(c.latentChannels(), top))::forward);
        steps.add(child("mid_block", new VaeMidBlock(top, groups, eps, c.midBlockAddAttention()))::forward);
        ModuleList<UpDecoderBlock2D> upBlocks = child("up_blocks", new ModuleList<>());
        long out = top;
        for (int i = 0; i < ch.size(); i++) {
            long in = out;
            out = ch.get(ch.size() - 1 - i);
            steps.add(upBlocks.add(new UpDecoderBlock2D(in, out, c.layersPerBlock() + 1, groups, eps,
                    i < ch.size() - 1))::forward);
        }
        GroupNorm convNormOut = child("conv_norm_out", new GroupNorm(groups, ch.get(0), eps));
        Conv2d convOut = child("conv_out", Conv2d.same3x3(ch.get(0), c.outChannels()));
        steps.add(x -> convOut.forward(convNormOut.forwardSilu(x)));
    }

    NDArray forward(NDArray z) {
        return Scopes.chain(z, steps);
    }
}
