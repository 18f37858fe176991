package dev.jdiffuse.models.blocks;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;

/**
 * Halves H and W with a stride-2 3x3 convolution named {@code conv} (diffusers {@code Downsample2D}, use_conv).
 * With {@code padding = 0} (the VAE encoder) the input is first padded by one on the right and bottom, as the
 * original LDM code does.
 */
public final class Downsample2D extends Module {

    private final Conv2d conv;
    private final int padding;

    public Downsample2D(long in, long out, int padding) {
        this.conv = child("conv", new Conv2d(in, out, 3, 2, padding, true));
        this.padding = padding;
    }

    public NDArray forward(NDArray x) {
        if (padding == 0) {
            // F.pad(x, (0, 1, 0, 1)): last dim right by 1, then height bottom by 1.
            x = x.pad(new ai.djl.ndarray.types.Shape(0, 1, 0, 1), 0);
        }
        return conv.forward(x);
    }
}
