package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;

/** Layer normalisation over the last dimension, optionally without affine parameters. */
public final class LayerNorm extends Module {

    private final long dim;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;

    public LayerNorm(long dim, double eps, boolean affine) {
        this(dim, eps, affine, affine);
    }

    public LayerNorm(long dim, double eps, boolean affine, boolean bias) {
        this.dim = dim;
        this.eps = (float) eps;
        this.weight = affine ? param("weight", dim) : null;
        this.bias = bias ? param("bias", dim) : null;
    }

    public NDArray forward(NDArray x) {
        return Norms.layerNorm(x, dim, weight == null ? null : weight.get(), bias == null ? null : bias.get(), eps);
    }
}
