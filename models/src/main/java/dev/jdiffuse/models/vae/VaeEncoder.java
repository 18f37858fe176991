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
 * The KL-VAE encoder (diffusers {@code Encoder} with {@code double_z=True}): {@code conv_in}, the down levels, the mid
 * block, {@code conv_norm_out}, SiLU, {@code conv_out} to {@code 2 * latent_channels} (mean and log-variance).
 * Shapes: [B, in, H, W] -> [B, 2 * latent, H / f, W / f] with f = 2^(levels - 1).
 */
final class VaeEncoder extends Module {

    static final double EPS = 1e-6;

    private final List<UnaryOperator<NDArray>> steps = new ArrayList<>();

    VaeEncoder(AutoencoderKLConfig c) {
        List<Integer> ch = c.blockOutChannels();
        int groups = c.normNumGroups();
        steps.add(child("conv_in", Conv2d.same3x3(c.inChannels(), ch.get(0)))::forward);
        ModuleList<DownEncoderBlock2D> downBlocks = child("down_blocks", new ModuleList<>());
        long out = ch.get(0);
        for (int i = 0; i < ch.size(); i++) {
            long in = out;
            out = ch.get(i);
            steps.add(downBlocks.add(new DownEncoderBlock2D(in, out, c.layersPerBlock(), groups, EPS,
                    i < ch.size() - 1))::forward);
        }
        steps.add(child("mid_block", new VaeMidBlock(out, groups, EPS, c.midBlockAddAttention()))::forward);
        GroupNorm convNormOut = child("conv_norm_out", new GroupNorm(groups, out, EPS));
        Conv2d convOut = child("conv_out", Conv2d.same3x3(out, 2L * c.latentChannels()));
        steps.add(x -> convOut.forward(convNormOut.forwardSilu(x)));
    }

    NDArray forward(NDArray x) {
        return Scopes.chain(x, steps);
    }
}
