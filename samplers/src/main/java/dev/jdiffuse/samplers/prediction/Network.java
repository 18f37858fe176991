package dev.jdiffuse.samplers.prediction;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Conditioning;

/**
 * A denoising network as trained: the raw output (noise, velocity, sample, or EDM's {@code F}) for an input that
 * the prediction adapter has already scaled. Shapes: {@code scaledInput} [B, C, H, W] (or any latent layout), output
 * the same shape, attached to {@code scaledInput}'s manager.
 */
@FunctionalInterface
public interface Network {

    /**
     * @param scaledInput the sample as the network expects it (e.g. {@code x / sqrt(sigma^2 + 1)})
     * @param timestep the conditioning value diffusers feeds the network at this noise level
     */
    NDArray forward(NDArray scaledInput, double timestep, Conditioning conditioning);

    /**
     * One forward over rows that may sit at different noise levels, {@code timesteps[i]} for row {@code i} (several
     * requests sharing a forward, see {@link dev.jdiffuse.samplers.batching.StepBatcher}). This default serves
     * networks that take one timestep per call: it accepts only equal timesteps.
     *
     * @param timesteps one per batch row of {@code scaledInput}
     */
    default NDArray forward(NDArray scaledInput, double[] timesteps, Conditioning conditioning) {
        for (double t : timesteps) {
            if (Double.compare(t, timesteps[0]) != 0) {
                throw new UnsupportedOperationException("this network takes one timestep per call");
            }
        }
        return forward(scaledInput, timesteps[0], conditioning);
    }

    /** Whether {@link #forward(NDArray, double[], Conditioning)} takes a different timestep per row. */
    default boolean timestepPerRow() {
        return false;
    }
}
