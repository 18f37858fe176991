package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import dev.jdiffuse.models.blocks.ResnetBlock2D;
import dev.jdiffuse.models.blocks.Upsample2D;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

import java.util.Deque;

/**
 * One decoder level of the UNet: diffusers' {@code CrossAttnUpBlock2D} or {@code UpBlock2D}. Each layer concatenates
 * the next skip connection (taken from the end of the encoder's list) to the channels, runs a resnet (and a spatial
 * transformer), then an optional nearest-neighbour {@code upsamplers.0}. Shapes: x [B, prev, H, W] -> [B, out, 2H, 2W]
 * (or [B, out, H, W] for the last level).
 */
public final class UNetUpBlock extends Module {

    private final ModuleList<ResnetBlock2D> resnets;
    private final ModuleList<Transformer2DModel> attentions;
    private final Upsample2D upsampler;

    /**
     * @param in channels of the encoder level below this one (its skips feed the last layer)
     * @param prev channels coming up from the previous decoder level
     * @param layers resnets in this block (the encoder's layers per block + 1)
     */
    public UNetUpBlock(int in, int out, int prev, int layers, int tembChannels, int groups, double eps,
            AttentionSettings attention, boolean upsample) {
        this.resnets = child("resnets", new ModuleList<>());
        this.attentions = attention != null ? child("attentions", new ModuleList<>()) : null;
        for (int i = 0; i < layers; i++) {
            int skip = i == layers - 1 ? in : out;
            int resIn = i == 0 ? prev : out;
            resnets.add(new ResnetBlock2D(resIn + skip, out, tembChannels, groups, eps, 1.0));
            if (attentions != null) {
                attentions.add(new Transformer2DModel(out, attention));
            }
        }
        this.upsampler = upsample ? child("upsamplers", new ModuleList<Upsample2D>()).add(new Upsample2D(out, out))
                : null;
    }

    /** Number of skip connections this block consumes. */
    public int layers() {
        return resnets.size();
    }

    /**
     * @param skips the encoder's remaining skip connections; this block pops {@link #layers()} from the end
     * @param upsampleSize target [H, W] of the upsampler when the latent size is not a multiple of the total
     *     downsampling, else null for plain 2x
     */
    public NDArray forward(NDArray x, Deque<NDArray> skips, NDArray temb, TextContext context,
            long[] upsampleSize) {
        for (int i = 0; i < resnets.size(); i++) {
            x = NDArrays.concat(new ai.djl.ndarray.NDList(x, skips.removeLast()), 1);
            x = resnets.get(i).forward(x, temb);
            if (attentions != null) {
                x = attentions.get(i).forward(x, context);
            }
        }
        if (upsampler != null) {
            x = upsampleSize == null ? upsampler.forward(x) : upsampler.forward(x, upsampleSize[0], upsampleSize[1]);
        }
        return x;
    }
}
