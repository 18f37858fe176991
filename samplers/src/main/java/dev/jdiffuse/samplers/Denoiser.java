package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;

/**
 * The one seam between models and samplers: {@code D(x, sigma, c)}, a prediction of the clean sample x0.
 *
 * <p>Karras et al. 2022 ("Elucidating the Design Space of Diffusion-Based Generative Models"), eq. 7: every
 * parameterisation (epsilon, v, sample, flow velocity, EDM preconditioning) is an adapter that turns a network into
 * this function, so samplers never branch on the prediction type.
 *
 * <p>Shapes: {@code x} is [B, C, H, W] (or any latent layout); the result has the shape of {@code x} and is attached to
 * {@code x}'s manager, so a per-step sub-manager owns every intermediate.
 */
@FunctionalInterface
public interface Denoiser {

    NDArray denoise(NDArray x, NoiseLevel level, Conditioning conditioning);
}
