package dev.jdiffuse.models.pipeline.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * DiT as the samplers' {@link Network}: one timestep for the batch, the labels of {@link DitConditioning}, and of the
 * output [B, out_channels, h, w] only the first {@code C = in_channels} channels, the noise prediction (with learned
 * sigma the other C are the variance interpolation, which diffusers' schedulers discard), in float32.
 */
final class DitNetwork implements Network {

    private final DiTTransformer2DModel transformer;

    DitNetwork(DiTTransformer2DModel transformer) {
        this.transformer = transformer;
    }

    @Override
    public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
        NDArray out = transformer.forward(x, new double[] {timestep}, ((DitConditioning) conditioning).labels());
        return prediction(out, transformer.config().inChannels());
    }

    /** The first {@code channels} channels of [B, K, h, w] (the noise prediction of a learned-sigma model), float32. */
    static NDArray prediction(NDArray output, int channels) {
        NDArray eps = output.getShape().get(1) == channels ? output : output.get(":, 0:" + channels);
        return eps.getDataType() == DataType.FLOAT32 ? eps : eps.toType(DataType.FLOAT32, false);
    }
}
