package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseLevel;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.schedulers.SamplingSchedule;

/**
 * Euler's method on the probability-flow ODE {@code dx/dsigma = (x - D(x, sigma)) / sigma}: Karras et al. 2022,
 * Algorithm 2 with {@code S_churn = 0} (no noise). {@code x' = x + (s' - s) (x - x0)/s}.
 *
 * <p>The same loop serves three registry names: {@code euler} (diffusers' EulerDiscreteScheduler), {@code edm_euler}
 * (EDMEulerScheduler: the difference is the EDM preconditioning adapter and schedule, not the step) and
 * {@code flow_euler} (FlowMatchEulerDiscreteScheduler, Liu et al. 2022 / Esser et al. 2024: with
 * {@code x = (1 - s) x0 + s eps} the ODE velocity {@code eps - x0} equals {@code (x - x0)/s}, so
 * {@code x' = x + (s' - s) v} is this step).
 */
public final class Euler implements Sampler {

    private final String name;

    public Euler(String name) {
        this.name = name;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, SamplingSchedule schedule, Conditioning cond,
            NoiseSource noise, StepListener listener) {
        int n = schedule.steps();
        NDArray cur = x;
        for (int i = 0; i < n; i++) {
            double s = schedule.sigma(i);
            double next = schedule.sigma(i + 1);
            try (StepScope scope = new StepScope(cur, i == 0)) {
                NDArray x0 = denoiser.denoise(cur, new NoiseLevel(s, schedule.timestepOf(i), i, n), cond);
                NDArray d = cur.sub(x0).div(s);
                NDArray nx = cur.add(d.mul(next - s));
                listener.onStep(i, n, next, nx, x0);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
