package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;

/** {@code y = x W^T + b}; x [..., in] -> [..., out]. Weight [out, in] as PyTorch stores it. */
public final class Linear extends Module {

    private final Parameter weight;
    private final Parameter bias;

    public Linear(long in, long out, boolean bias) {
        this.weight = param("weight", out, in);
        this.bias = bias ? param("bias", out) : null;
    }

    public NDArray forward(NDArray x) {
        return x.getNDArrayInternal().linear(x, weight.get(), bias == null ? null : bias.get()).singletonOrThrow();
    }
}
