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

    /**
     * {@link #denoise} together with the unguided prediction it was guided from, for the samplers that step along the
     * unconditional prediction and add the guidance separately (CFG++, Chung et al. 2024). A denoiser without guidance
     * returns its prediction twice; {@link ClassifierFreeGuidance} returns both halves of its batched call (also at
     * scale 1, where {@link #denoise} skips the unconditional half).
     */
    default Guided denoiseGuided(NDArray x, NoiseLevel level, Conditioning conditioning) {
        NDArray d = denoise(x, level, conditioning);
        return new Guided(d, d);
    }

    /** The guided prediction {@code D} and the unconditional one {@code D_u}, both shaped like {@code x}. */
    record Guided(NDArray guided, NDArray unconditional) {
    }
}
