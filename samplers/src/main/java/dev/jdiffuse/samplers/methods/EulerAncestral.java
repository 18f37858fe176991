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
 * Euler ancestral sampling (k-diffusion's {@code sample_euler_ancestral}, after Karras et al. 2022, Sec. 4): each
 * step goes to {@code s_down} with Euler and adds fresh noise of scale {@code s_up}, where
 * {@code s_up = sqrt(s'^2 (s^2 - s'^2) / s^2)} and {@code s_down = sqrt(s'^2 - s_up^2)} (the DDPM posterior in the
 * variance-exploding state). Noise is drawn on every step (scale 0 on the last), as diffusers draws it.
 */
public final class EulerAncestral implements Sampler {

    @Override
    public String name() {
        return "euler_ancestral";
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
                double up = Math.sqrt(next * next * (s * s - next * next) / (s * s));
                double down = Math.sqrt(next * next - up * up);
                NDArray d = cur.sub(x0).div(s);
                NDArray nx = cur.add(d.mul(down - s));
                nx = nx.add(noise.normal(nx.getManager(), nx.getShape()).mul(up));
                listener.onStep(i, n, next, nx, x0);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
