package dev.jdiffuse.models.blocks;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;

/** Doubles H and W by nearest-neighbour interpolation, then a 3x3 convolution named {@code conv}. */
public final class Upsample2D extends Module {

    private final Conv2d conv;

    public Upsample2D(long in, long out) {
        this.conv = child("conv", Conv2d.same3x3(in, out));
    }

    /** Nearest 2x upsampling of [B, C, H, W] (F.interpolate(scale_factor=2, mode="nearest")). */
    public static NDArray nearest2x(NDArray x) {
        return x.repeat(2, 2).repeat(3, 2);
    }

    public NDArray forward(NDArray x) {
        return conv.forward(nearest2x(x));
    }

    /** Upsampling to an explicit size (the UNet does this when a skip connection has an odd size). */
    public NDArray forward(NDArray x, long height, long width) {
        long h = x.getShape().get(2);
        long w = x.getShape().get(3);
        if (height == 2 * h && width == 2 * w) {
            return forward(x);
        }
        NDArray up = x.getNDArrayInternal().interpolation(new long[] {height, width}, 0, false);
        return conv.forward(up);
    }
}
