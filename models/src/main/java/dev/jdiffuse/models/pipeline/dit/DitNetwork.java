package dev.jdiffuse.models.pipeline.dit;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.dit.DiTTransformer2DModel;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.prediction.Network;

/**
 * The DiT transformer as the samplers' network: the scaled sample x [B, C, h, w], the timestep (one for the batch,
 * or one per row when concurrent requests share a forward through the family's
 * {@link dev.jdiffuse.samplers.batching.StepBatcher}), one class id per row from {@link DitConditioning}; out the
 * noise prediction [B, C, h, w] in float32: the first {@code C = in_channels} of the transformer's
 * {@code out_channels} (with learned sigma the other C are the variance interpolation, which diffusers' schedulers
 * discard).
 *
 * <p>Per-row timesteps are native to the transformer (its sinusoidal embedding takes [B]), so a row's output depends
 * only on its own sample, timestep and label: no row sees another (adaLN-Zero per row, self-attention within a row).
 */
record DitNetwork(DiTTransformer2DModel transformer) implements Network {

    /** A lone call: one timestep for all rows, exactly the call the family made before batching existed. */
    @Override
    public NDArray forward(NDArray x, double timestep, Conditioning conditioning) {
        return forward(x, new double[] {timestep}, conditioning);
    }

    /** @param timesteps one per row of {@code x}, or a single one for all rows */
    @Override
    public NDArray forward(NDArray x, double[] timesteps, Conditioning conditioning) {
        NDArray out = transformer.forward(x, timesteps, ((DitConditioning) conditioning).labels());
        return DiTFamily.prediction(out, transformer.config().inChannels());
    }

    @Override
    public boolean timestepPerRow() {
        return true;
    }
}
