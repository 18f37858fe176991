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
 * DPM-Solver++(2M): Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
 * Models", Algorithm 2 (multistep, data prediction, midpoint form as diffusers' {@code solver_type="midpoint"}).
 * With {@code lambda = -ln sigma} (the half log-SNR in the variance-exploding state), {@code h = lambda' - lambda}:
 * <pre>
 *   first order:  x' = (s'/s) x - (e^-h - 1) D0
 *   second order: x' = (s'/s) x - (e^-h - 1) (D0 + D1/2),  D1 = (D0 - D_prev) h / (lambda - lambda_prev)
 * </pre>
 * The first step is first order; so is the last when it lands on sigma 0, or when {@code eulerAtFinal}, or when
 * {@code lowerOrderFinal} and fewer than 15 steps (diffusers' {@code lower_order_final} rule, which stabilises
 * few-step runs).
 */
public final class DpmPp2m implements Sampler {

    private final boolean lowerOrderFinal;
    private final boolean eulerAtFinal;

    public DpmPp2m(boolean lowerOrderFinal, boolean eulerAtFinal) {
        this.lowerOrderFinal = lowerOrderFinal;
        this.eulerAtFinal = eulerAtFinal;
    }

    @Override
    public String name() {
        return "dpmpp_2m";
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, SamplingSchedule schedule, Conditioning cond,
            NoiseSource noise, StepListener listener) {
        int n = schedule.steps();
        NDArray cur = x;
        NDArray prevX0 = null;
        for (int i = 0; i < n; i++) {
            double s = schedule.sigma(i);
            double next = schedule.sigma(i + 1);
            try (StepScope scope = new StepScope(cur, i == 0)) {
                NDArray x0 = denoiser.denoise(cur, new NoiseLevel(s, schedule.timestepOf(i), i, n), cond);
                boolean last = i == n - 1;
                boolean firstOrder = i == 0
                        || last && (next == 0 || eulerAtFinal || lowerOrderFinal && n < 15);
                double ratio = next / s; // e^-h
                NDArray nx;
                if (firstOrder) {
                    nx = cur.mul(ratio).add(x0.mul(1 - ratio));
                } else {
                    double h = Math.log(s / next);
                    double h0 = Math.log(schedule.sigma(i - 1) / s);
                    NDArray d1 = x0.sub(prevX0).mul(h / h0);
                    nx = cur.mul(ratio).add(x0.add(d1.mul(0.5)).mul(1 - ratio));
                }
                listener.onStep(i, n, next, nx, x0);
                scope.release(prevX0);
                prevX0 = last ? null : scope.keep(x0);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
