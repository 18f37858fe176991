package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.schedulers.SamplingSchedule;

/**
 * A sampling algorithm as its update rule: one {@link #step} from {@code s.sigma()} to {@code s.next()}. The loop
 * around it (iteration, per-step memory, listener, history lifetime) is written once, in {@link SamplingLoop}.
 * Implementations are stateless and safe to share between concurrent requests: what a multistep method carries from
 * one step to the next goes through {@link Step#remember}, and all randomness comes from {@link Step#noise()}.
 */
@FunctionalInterface
public interface Sampler {

    /**
     * @return the sample at {@code s.next()}, attached to the step's manager (any array computed from {@code s.x()})
     */
    NDArray step(Step s);

    /**
     * Integrates from {@code schedule.sigma(0)} down to {@code schedule.sigma(steps)}; see {@link SamplingLoop#run}.
     *
     * @param x the initial sample at {@code schedule.sigma(0)}; not closed by the sampler
     * @return the sample at the last sigma, attached to {@code x}'s manager
     */
    default NDArray sample(Denoiser denoiser, NDArray x, SamplingSchedule schedule, Conditioning conditioning,
            NoiseSource noise, StepListener listener) {
        return SamplingLoop.run(this, denoiser, x, schedule, conditioning, noise, listener);
    }
}
