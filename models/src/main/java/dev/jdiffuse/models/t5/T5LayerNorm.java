package dev.jdiffuse.models.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;

/**
 * transformers' {@code T5LayerNorm}, an RMS norm (Zhang and Sennrich 2019): {@code w * x / sqrt(mean(x^2) + eps)} over
 * the last dimension, no mean subtraction and no bias. The mean of squares and the scaling run in float32 whatever the
 * weights' dtype; the result goes back to half precision before the weight multiplies it, as transformers does.
 */
final class T5LayerNorm extends Module {

    private final float eps;
    private final Parameter weight;

    T5LayerNorm(int dim, double eps) {
        this.eps = (float) eps;
        this.weight = param("weight", dim);
    }

    /** x [..., D] -> [..., D] in the weights' dtype. */
    NDArray forward(NDArray x) {
        NDArray w = weight.get();
        NDArray x32 = x.getDataType() == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray variance = x32.square().mean(new int[] {-1}, true);
        NDArray normed = x32.div(add(variance, eps).sqrt());
        if (w.getDataType() != DataType.FLOAT32) {
            normed = normed.toType(w.getDataType(), false);
        }
        return normed.mul(w);
    }
}
