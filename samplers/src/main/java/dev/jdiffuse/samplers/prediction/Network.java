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
}
