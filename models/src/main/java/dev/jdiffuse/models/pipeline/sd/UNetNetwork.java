package dev.jdiffuse.models.pipeline.sd;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.pipeline.ModelFamily;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * The UNet as the samplers' network: one timestep for the whole batch, or one per row when several requests share a
 * forward ({@link dev.jdiffuse.samplers.batching.StepBatcher}); the output in float32.
 */
public record UNetNetwork(UNet2DConditionModel unet) implements Network {

    @Override
    public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
        return forward(x, new double[] {timestep}, conditioning);
    }

    @Override
    public NDArray forward(NDArray x, double[] timesteps, Conditioning conditioning) {
        SdConditioning c = (SdConditioning) conditioning;
        return ModelFamily.float32(unet.forward(x, timesteps, c.context(), c.extras()));
    }

    @Override
    public boolean timestepPerRow() {
        return true;
    }
}
