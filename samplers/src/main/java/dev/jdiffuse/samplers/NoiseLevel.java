package dev.jdiffuse.samplers;

/**
 * Where on the noise path a denoiser is evaluated.
 *
 * @param sigma noise level in the sampler's convention (see {@link dev.jdiffuse.schedulers.SamplingSchedule})
 * @param timestep the value the network is conditioned on at this sigma (diffusers' {@code t})
 * @param step index of the sampler step this evaluation belongs to, 0-based
 * @param steps number of steps in the run (ControlNet start/end and previews use {@code step / steps})
 */
public record NoiseLevel(double sigma, double timestep, int step, int steps) {
}
