package dev.jdiffuse.models.pipeline.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.sd3.SD3Transformer2DModel;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * The SD3 transformer as the samplers' {@link Network}: the unscaled flow sample, one timestep (sigma x 1000, as the
 * flow-matching schedule gives it) for the whole batch; the predicted velocity comes back in float32 so the sampler
 * state stays full precision whatever the weights' dtype.
 */
final class Sd3TransformerNetwork implements Network {

    private final SD3Transformer2DModel transformer;

    Sd3TransformerNetwork(SD3Transformer2DModel transformer) {
        this.transformer = transformer;
    }

    @Override
    public NDArray forward(NDArray input, double timestep, Conditioning conditioning) {
        Sd3Conditioning c = (Sd3Conditioning) conditioning;
        NDArray out = transformer.forward(input, c.context(), c.pooled(), new double[] {timestep});
        return out.getDataType() == DataType.FLOAT32 ? out : out.toType(DataType.FLOAT32, false);
    }
}
