package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * The UNet as the samplers' {@link Network}: one timestep for the whole batch, output back in float32 so the sampler
 * state stays full precision whatever the weights' dtype.
 */
final class UNetNetwork implements Network {

    private final UNet2DConditionModel unet;

    UNetNetwork(UNet2DConditionModel unet) {
        this.unet = unet;
    }

    @Override
    public NDArray forward(NDArray scaledInput, double timestep, Conditioning conditioning) {
        SdConditioning c = (SdConditioning) conditioning;
        NDArray out = unet.forward(scaledInput, new double[] {timestep}, c.context(), c.extras());
        return out.getDataType() == DataType.FLOAT32 ? out : out.toType(DataType.FLOAT32, false);
    }
}
