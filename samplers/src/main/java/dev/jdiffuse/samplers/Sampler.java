package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.schedulers.SamplingSchedule;

/**
 * A sampling algorithm: integrates from {@code schedule.sigma(0)} down to {@code schedule.sigma(steps)}.
 * Implementations are stateless and safe to share between concurrent requests; all randomness comes from the
 * request's {@link NoiseSource}.
 */
public interface Sampler {

    /** Stable identifier used in the API and in image metadata, e.g. {@code "dpmpp_2m"}. */
    String name();

    /**
     * @param x the initial sample at {@code schedule.sigma(0)} (unit noise already multiplied by
     *     {@code schedule.initNoiseSigma()}); not closed by the sampler
     * @return the sample at the last sigma, attached to {@code x}'s manager
     */
    NDArray sample(Denoiser denoiser, NDArray x, SamplingSchedule schedule, Conditioning conditioning,
            NoiseSource noise, StepListener listener);
}
