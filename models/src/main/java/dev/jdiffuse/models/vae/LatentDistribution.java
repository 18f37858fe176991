package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * The encoder's diagonal Gaussian posterior q(z|x) (diffusers {@code DiagonalGaussianDistribution}; Kingma and
 * Welling 2014). Shapes: mean and logvar [B, latent, h, w]; logvar is already clamped to [-30, 20].
 */
public record LatentDistribution(NDArray mean, NDArray logvar) {

    /** The standard deviation {@code exp(logvar / 2)}. */
    public NDArray std() {
        return mul(logvar, 0.5f).exp();
    }

    /** A draw {@code mean + std * noise} for caller-supplied standard normal {@code noise} of the mean's shape. */
    public NDArray sample(NDArray noise) {
        return mean.add(std().mul(noise.toType(mean.getDataType(), false)));
    }
}
