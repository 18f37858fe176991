package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;

/**
 * Root-mean-square normalisation (Zhang and Sennrich 2019, eq. 4) over the last dimension, as diffusers'
 * {@code RMSNorm}: {@code x / sqrt(mean(x^2) + eps) * weight}, the statistic taken in float32 and the result cast back
 * to the weight's dtype before the scale. Used as the per-head query/key norm of SD3.5 (Esser et al. 2024, sec. 5.3.2).
 * Shape: [..., dim] -> [..., dim].
 */
public final class RMSNorm extends Module {

    private final float eps;
    private final Parameter weight;

    public RMSNorm(long dim, double eps, boolean elementwiseAffine) {
        this.eps = (float) eps;
        this.weight = elementwiseAffine ? param("weight", dim) : null;
    }

    public NDArray forward(NDArray x) {
        DataType dtype = x.getDataType();
        NDArray x32 = dtype == DataType.FLOAT32 ? x : x.toType(DataType.FLOAT32, false);
        NDArray rms = add(x32.square().mean(new int[] {-1}, true), eps).sqrt();
        NDArray y = x32.div(rms);
        if (y.getDataType() != dtype) {
            y = y.toType(dtype, false);
        }
        return weight == null ? y : y.mul(weight.get());
    }
}
