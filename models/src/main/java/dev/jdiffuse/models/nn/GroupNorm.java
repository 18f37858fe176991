package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

/**
 * Group normalisation (Wu and He 2018) over [B, C, ...]: statistics per (batch, group of C/G channels), then a
 * per-channel affine. PyTorch's JNI in DJL has no group_norm, so it is a layer norm over the flattened group.
 */
public final class GroupNorm extends Module {

    private final int groups;
    private final long channels;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;

    public GroupNorm(int groups, long channels, double eps) {
        if (channels % groups != 0) {
            throw new IllegalArgumentException("channels " + channels + " not divisible by groups " + groups);
        }
        this.groups = groups;
        this.channels = channels;
        this.eps = (float) eps;
        this.weight = param("weight", channels);
        this.bias = param("bias", channels);
    }

    public NDArray forward(NDArray x) {
        if (FusedOps.available()) {
            return FusedOps.groupNorm(x, groups, weight.get(), bias.get(), eps, false);
        }
        return composite(x);
    }

    /** {@code silu(forward(x))}, fused into one kernel call where available (the resnets' norm-then-activation). */
    public NDArray forwardSilu(NDArray x) {
        if (FusedOps.available()) {
            return FusedOps.groupNorm(x, groups, weight.get(), bias.get(), eps, true);
        }
        return Activations.silu(composite(x));
    }

    private NDArray composite(NDArray x) {
        Shape shape = x.getShape();
        long b = shape.get(0);
        long n = shape.size() / (b * groups);
        NDArray grouped = x.reshape(b, groups, n);
        NDArray normed = Norms.layerNorm(grouped, n, null, null, eps).reshape(shape);
        long[] affine = new long[shape.dimension()];
        java.util.Arrays.fill(affine, 1);
        affine[1] = channels;
        return normed.mul(weight.view(affine)).add(bias.view(affine));
    }
}
