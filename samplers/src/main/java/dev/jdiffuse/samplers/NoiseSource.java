package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Per-request source of standard normal noise (initial latents and the draws of stochastic samplers). Not shared
 * between requests; consecutive calls continue one stream, so a seed fixes the whole run.
 */
public interface NoiseSource {

    /** Standard normal float32 array of {@code shape}, created in {@code manager}. */
    NDArray normal(NDManager manager, Shape shape);
}
