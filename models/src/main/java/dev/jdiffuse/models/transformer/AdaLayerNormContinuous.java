package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/**
 * diffusers' {@code AdaLayerNormContinuous} with a layer norm: {@code linear(silu(c))} is split into {@code scale,
 * shift} (in that order) and {@code norm(x) * (1 + scale) + shift}. SD3 uses it as the final norm and as the context
 * norm of its last block (Esser et al. 2024, fig. 2). Shapes: x [B, L, D], c [B, condDim] -> [B, L, D].
 */
public final class AdaLayerNormContinuous extends Module {

    private final Linear linear;
    private final LayerNorm norm;

    public AdaLayerNormContinuous(long dim, long conditioningDim, boolean elementwiseAffine, double eps, boolean bias) {
        this.linear = child("linear", new Linear(conditioningDim, 2 * dim, bias));
        this.norm = child("norm", new LayerNorm(dim, eps, elementwiseAffine, elementwiseAffine && bias));
    }

    public NDArray forward(NDArray x, NDArray conditioning) {
        NDArray c = Activations.silu(conditioning);
        if (c.getDataType() != x.getDataType()) {
            c = c.toType(x.getDataType(), false);
        }
        NDList scaleShift = linear.forward(c).split(2, 1);
        return Modulation.modulate(norm.forward(x), scaleShift.get(1), scaleShift.get(0));
    }
}
