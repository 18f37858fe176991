package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;

/**
 * Told after each sampler step. Implementations may read the arrays during the call only (they belong to the step's
 * sub-manager) and may throw {@link java.util.concurrent.CancellationException} to stop the run between steps.
 */
@FunctionalInterface
public interface StepListener {

    StepListener NONE = (step, steps, sigma, x, denoised) -> { };

    /**
     * @param step the step just finished, 0-based
     * @param steps total number of steps
     * @param sigma the noise level the sample is at now
     * @param x the sample after the step
     * @param denoised the last x0 prediction of the step
     */
    void onStep(int step, int steps, double sigma, NDArray x, NDArray denoised);
}
