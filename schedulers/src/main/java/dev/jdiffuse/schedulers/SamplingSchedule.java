package dev.jdiffuse.schedulers;

import java.util.Arrays;

/**
 * The noise levels one sampling run visits, as the samplers consume them.
 *
 * <p>{@code sigmas} has {@code n + 1} entries: the noise level of each of the {@code n} steps and the level the last
 * step lands on (0 for most samplers; {@code sigma(t=0)} for DDIM with {@code set_alpha_to_one=false}). Sigmas are in
 * the variance-exploding convention {@code x = x0 + sigma * eps} for diffusion models, and the rectified-flow
 * convention {@code x = (1 - sigma) * x0 + sigma * eps} for flow models (then {@code sigma} is in [0, 1]).
 *
 * <p>{@code timesteps} has {@code n} entries (more for samplers such as Heun that evaluate the model twice a step, see
 * {@link #timestepOf(int)}): the value the network is conditioned on at {@code sigmas[i]}, exactly as diffusers feeds
 * it (integers for DDIM/DDPM, fractional where diffusers interpolates).
 *
 * <p>{@code initNoiseSigma} scales unit Gaussian noise into the first sample, as diffusers' {@code init_noise_sigma}.
 *
 * <p>{@code levels} gives the timestep of a level between the scheduled ones (null where the schedule has none: a
 * sampler that evaluates between levels, such as DPM2, then fails with {@link IllegalStateException}; every schedule
 * {@link DiffusersSchedules} makes has them).
 */
public record SamplingSchedule(double[] sigmas, double[] timesteps, double initNoiseSigma, SigmaTimesteps levels) {

    /** A schedule without timesteps for intermediate levels. */
    public SamplingSchedule(double[] sigmas, double[] timesteps, double initNoiseSigma) {
        this(sigmas, timesteps, initNoiseSigma, null);
    }

    public SamplingSchedule {
        if (sigmas.length < 2) {
            throw new IllegalArgumentException("a schedule needs at least one step (two sigmas), got " + sigmas.length);
        }
        if (timesteps.length < sigmas.length - 1) {
            throw new IllegalArgumentException(
                    "timesteps (" + timesteps.length + ") must cover every step (" + (sigmas.length - 1) + ")");
        }
        sigmas = sigmas.clone();
        timesteps = timesteps.clone();
    }

    /** Number of steps. */
    public int steps() {
        return sigmas.length - 1;
    }

    public double sigma(int i) {
        return sigmas[i];
    }

    /** Timestep for {@code sigmas[i]}; for {@code i == steps()} the last timestep is repeated. */
    public double timestepOf(int i) {
        return timesteps[Math.min(i, timesteps.length - 1)];
    }

    /**
     * The timestep of an arbitrary level {@code sigma} (DPM2's midpoints), from {@link #levels()}.
     *
     * @throws IllegalStateException when the schedule maps no intermediate levels
     */
    public double timestepAt(double sigma) {
        if (levels == null) {
            throw new IllegalStateException("this schedule gives no timesteps between its levels");
        }
        return levels.timestepOf(sigma);
    }

    /** The same levels and timesteps with {@code levels} for the levels between them. */
    public SamplingSchedule withLevels(SigmaTimesteps levels) {
        return new SamplingSchedule(sigmas, timesteps, initNoiseSigma, levels);
    }

    /**
     * The last {@code steps() - start} steps (image-to-image: diffusers computes the whole schedule, then starts at
     * step {@code t_start}); the first sample is then the clean latents noised to {@code sigma(start)}.
     */
    public SamplingSchedule from(int start) {
        if (start < 0 || start >= steps()) {
            throw new IllegalArgumentException("start " + start + " outside the " + steps() + " steps");
        }
        return new SamplingSchedule(Arrays.copyOfRange(sigmas, start, sigmas.length),
                Arrays.copyOfRange(timesteps, Math.min(start, timesteps.length - 1), timesteps.length), initNoiseSigma, levels);
    }

    @Override
    public double[] sigmas() {
        return sigmas.clone();
    }

    @Override
    public double[] timesteps() {
        return timesteps.clone();
    }

    @Override
    public String toString() {
        return "SamplingSchedule[sigmas=" + Arrays.toString(sigmas) + ", timesteps=" + Arrays.toString(timesteps)
                + ", initNoiseSigma=" + initNoiseSigma + ", levels=" + levels + "]";
    }
}
