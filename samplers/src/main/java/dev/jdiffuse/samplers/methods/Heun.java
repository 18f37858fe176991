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
 * Heun's second-order method on the probability-flow ODE: Karras et al. 2022, Algorithm 1 (Algorithm 2 with
 * {@code S_churn = 0}). An Euler step to {@code s'} is corrected with the slope there,
 * {@code x' = x + (s' - s) (d + d')/2}; the last step (to {@code s' = 0}) stays Euler. Two denoiser calls per step
 * (one on the last), the second at {@code (s', timestepOf(i + 1))}. {@code x0} is clipped when {@code clipRange} is
 * finite (diffusers' {@code clip_sample}).
 */
public final class Heun implements Sampler {

    private final double clipRange;

    /** @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none */
    public Heun(double clipRange) {
        this.clipRange = clipRange;
    }

    @Override
    public String name() {
        return "heun";
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
                NDArray x0 = Clip.apply(denoiser.denoise(cur, new NoiseLevel(s, schedule.timestepOf(i), i, n), cond),
                        clipRange);
                NDArray d = cur.sub(x0).div(s);
                NDArray nx = cur.add(d.mul(next - s));
                if (next > 0) {
                    NoiseLevel there = new NoiseLevel(next, schedule.timestepOf(i + 1), i, n);
                    x0 = Clip.apply(denoiser.denoise(nx, there, cond), clipRange);
                    NDArray d2 = nx.sub(x0).div(next);
                    nx = cur.add(d.add(d2).mul(0.5 * (next - s)));
                }
                listener.onStep(i, n, next, nx, x0);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
