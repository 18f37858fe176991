package dev.jdiffuse.schedulers;

import java.util.Arrays;

/**
 * "Discard the next-to-last sigma", as ComfyUI and AUTOMATIC1111 do for some samplers: the schedule is computed for
 * one step more and its next-to-last level dropped, so the run keeps its step count and its first and final levels
 * but its last step is longer (it lands from the level before the dropped one). ComfyUI's
 * {@code KSampler.calculate_sigmas} ({@code comfy/samplers.py}, samplers in {@code DISCARD_PENULTIMATE_SIGMA_SAMPLERS})
 * and A1111's {@code KDiffusionSampler.get_sigmas} ({@code modules/sd_samplers_kdiffusion.py}, samplers with the
 * {@code discard_next_to_last_sigma} option) both write it {@code torch.cat([sigmas[:-2], sigmas[-1:]])} on the levels
 * of {@code steps + 1} steps; the caller asks for those ({@link #levelsFor(int)}).
 */
public final class PenultimateSigma {

    private PenultimateSigma() {
    }

    /** How many steps' levels to compute so that {@code steps} remain after the drop. */
    public static int levelsFor(int steps) {
        return Math.addExact(steps, 1);
    }

    /**
     * {@code [s_0, ..., s_{m-1}, s_m]} without {@code s_{m-1}} (the level the last step started from): {@code m}
     * levels for {@code m - 1} steps, the first and final level unchanged.
     *
     * @param sigmas the levels of {@code m >= 2} steps and the one the last lands on ({@code m + 1} entries)
     */
    public static double[] discard(double[] sigmas) {
        if (sigmas.length < 3) {
            throw new IllegalArgumentException("dropping the next-to-last level needs at least two steps (three "
                    + "levels), got " + sigmas.length + " levels");
        }
        double[] out = Arrays.copyOf(sigmas, sigmas.length - 1);
        out[out.length - 1] = sigmas[sigmas.length - 1];
        return out;
    }

    /**
     * {@code schedule} without its next-to-last level: its sigmas as {@link #discard(double[])}, and the timestep that
     * conditioned the network at the dropped level removed with it (timesteps pair with the levels a step starts from,
     * so that is the last one). {@code initNoiseSigma} is kept: it scales the noise to the first level, which stays;
     * the levels between the scheduled ones ({@link SamplingSchedule#levels()}) are the model's and stay too.
     * Image-to-image enters the result where it would enter any schedule ({@link SamplingSchedule#from(int)}), as both
     * UIs take the tail of the dropped levels.
     *
     * @throws IllegalArgumentException for a schedule of one step, or one whose timesteps are not one per step
     */
    public static SamplingSchedule discard(SamplingSchedule schedule) {
        double[] sigmas = discard(schedule.sigmas());
        double[] timesteps = schedule.timesteps();
        if (timesteps.length != schedule.steps()) {
            throw new IllegalArgumentException("the schedule has " + timesteps.length + " timesteps for "
                    + schedule.steps() + " steps; dropping a level needs one timestep per step");
        }
        return new SamplingSchedule(sigmas, Arrays.copyOf(timesteps, timesteps.length - 1),
                schedule.initNoiseSigma(), schedule.levels());
    }
}
