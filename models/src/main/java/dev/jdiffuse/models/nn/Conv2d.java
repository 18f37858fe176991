package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/** 2-D convolution, NCHW; weight [out, in/groups, k, k]. */
public final class Conv2d extends Module {

    private final Parameter weight;
    private final Parameter bias;
    private final Shape stride;
    private final Shape padding;

    public Conv2d(long in, long out, int kernel, int stride, int padding, boolean bias) {
        this.weight = param("weight", out, in, kernel, kernel);
        this.bias = bias ? param("bias", out) : null;
        this.stride = new Shape(stride, stride);
        this.padding = new Shape(padding, padding);
    }

    /** The usual "same" 3x3 convolution with bias. */
    public static Conv2d same3x3(long in, long out) {
        return new Conv2d(in, out, 3, 1, 1, true);
    }

    /** A 1x1 convolution with bias. */
    public static Conv2d pointwise(long in, long out) {
        return new Conv2d(in, out, 1, 1, 0, true);
    }

    public NDArray forward(NDArray x) {
        return x.getNDArrayInternal()
                .convolution(x, weight.get(), bias == null ? null : bias.get(), stride, padding, new Shape(1, 1), 1)
                .singletonOrThrow();
    }
}
