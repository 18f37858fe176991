package dev.jdiffuse.models.blocks;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.GroupNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;

/**
 * The residual block of the SD UNet and VAE (He et al. 2016 with GroupNorm and SiLU, as in Ho et al. 2020 and
 * diffusers' {@code ResnetBlock2D} with {@code time_embedding_norm="default"}):
 * {@code h = conv2(silu(norm2(conv1(silu(norm1(x))) + proj(silu(temb))))); out = (shortcut(x) + h) / scale}.
 * Shapes: x [B, in, H, W], silu(temb) [B, tembChannels] or null -> [B, out, H, W]. The caller passes the time
 * embedding already through SiLU: it is the same for every block of a forward pass, so it is computed once.
 */
public final class ResnetBlock2D extends Module {

    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;
    private final float outputScale;
    private final long out;

    /**
     * @param tembChannels time-embedding width, or 0 for the VAE's blocks that have none
     * @param outputScaleFactor diffusers' {@code output_scale_factor} (1 in SD)
     */
    public ResnetBlock2D(long in, long out, long tembChannels, int groups, double eps, double outputScaleFactor) {
        this.norm1 = child("norm1", new GroupNorm(groups, in, eps));
        this.conv1 = child("conv1", Conv2d.same3x3(in, out));
        this.timeEmbProj = tembChannels > 0 ? child("time_emb_proj", new Linear(tembChannels, out, true)) : null;
        this.norm2 = child("norm2", new GroupNorm(groups, out, eps));
        this.conv2 = child("conv2", Conv2d.same3x3(out, out));
        this.convShortcut = in != out ? child("conv_shortcut", Conv2d.pointwise(in, out)) : null;
        this.outputScale = (float) outputScaleFactor;
        this.out = out;
    }

    /** @param tembSilu {@code silu(temb)} [B, tembChannels], or null for blocks without a time embedding */
    public NDArray forward(NDArray x, NDArray tembSilu) {
        NDArray h = conv1.forward(norm1.forwardSilu(x));
        if (timeEmbProj != null && tembSilu != null) {
            h = h.add(timeEmbProj.forward(tembSilu).reshape(-1, out, 1, 1));
        }
        h = conv2.forward(norm2.forwardSilu(h));
        NDArray skip = convShortcut == null ? x : convShortcut.forward(x);
        NDArray out = skip.add(h);
        return outputScale == 1f ? out : div(out, outputScale);
    }
}
