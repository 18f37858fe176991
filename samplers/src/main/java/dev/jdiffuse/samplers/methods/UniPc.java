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
 * UniPC: Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models",
 * with diffusers' defaults: order 2, data prediction ({@code predict_x0}), {@code B(h) = e^h - 1} ("bh2"),
 * {@code lower_order_final}, corrector on every step. In the variance-exploding state with
 * {@code lambda = -ln sigma}, {@code h = lambda' - lambda}, {@code phi1 = e^-h - 1}:
 * <pre>
 *   predictor UniP-p:  x' = (s'/s) x - phi1 m0 - phi1 sum_k rho_p,k D_k         (rho_p = 1/2 for order 2)
 *   corrector UniC-p:  x^c = (s/s_prev) x_prev^c - phi1 m_prev
 *                            - phi1 (sum_k rho_c,k D_k + rho_c,last (m - m_prev))
 * </pre>
 * where {@code D_k = (m_k - m0) / r_k}, {@code r_k = (lambda_k - lambda_0)/h}, and {@code rho_c} solves
 * {@code R rho = b} with {@code R_ij = r_j^(i-1)}, {@code b_i = i! phi_{i+1}(h) / B(h)} (eq. 8 and Algorithm 2).
 * The network is evaluated on the predictor's sample; the corrector then refines that sample using the new
 * evaluation before the next prediction. The order is 1 on the first step, and on the last step
 * ({@code lower_order_final}); the last prediction is not corrected.
 */
public final class UniPc implements Sampler {

    @Override
    public String name() {
        return "unipc";
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, SamplingSchedule schedule, Conditioning cond,
            NoiseSource noise, StepListener listener) {
        int n = schedule.steps();
        NDArray cur = x;
        NDArray lastSample = null;
        NDArray[] history = new NDArray[2]; // history[0] = m at step i-1, history[1] = m at step i-2
        int previousOrder = 0;
        for (int i = 0; i < n; i++) {
            double s = schedule.sigma(i);
            double next = schedule.sigma(i + 1);
            try (StepScope scope = new StepScope(cur, i == 0)) {
                NDArray m = denoiser.denoise(cur, new NoiseLevel(s, schedule.timestepOf(i), i, n), cond);
                NDArray sample = cur;
                if (i > 0) {
                    sample = correct(schedule, i, lastSample, history, m, previousOrder);
                }
                int order = Math.min(Math.min(2, n - i), i + 1);
                NDArray nx = predict(schedule, i, sample, m, history[0], order);
                listener.onStep(i, n, next, nx, m);
                scope.release(lastSample);
                scope.release(history[1]);
                history[1] = history[0];
                history[0] = scope.keep(m);
                lastSample = scope.keep(i == 0 ? sample.duplicate() : sample); // never the caller's input
                previousOrder = order;
                cur = scope.keep(nx);
            }
        }
        return cur;
    }

    private static NDArray predict(SamplingSchedule schedule, int i, NDArray x, NDArray m0, NDArray m1, int order) {
        double s0 = schedule.sigma(i);
        double t = schedule.sigma(i + 1);
        double phi1 = t / s0 - 1;
        NDArray out = x.mul(t / s0).sub(m0.mul(phi1));
        if (order == 2) {
            double h = Math.log(s0 / t);
            double r = Math.log(schedule.sigma(i - 1) / s0) / -h;
            out = out.sub(m1.sub(m0).mul(phi1 * 0.5 / r));
        }
        return out;
    }

    private static NDArray correct(SamplingSchedule schedule, int i, NDArray lastSample, NDArray[] history,
            NDArray m, int order) {
        double s0 = schedule.sigma(i - 1);
        double t = schedule.sigma(i);
        double hh = -Math.log(s0 / t); // -h
        double phi1 = Math.expm1(hh);
        double bh = phi1;
        NDArray m0 = history[0];
        NDArray out = lastSample.mul(t / s0).sub(m0.mul(phi1));
        double hPhiK = phi1 / hh - 1;
        double b1 = hPhiK / bh;
        if (order == 1) {
            return out.sub(m.sub(m0).mul(bh * 0.5));
        }
        hPhiK = hPhiK / hh - 0.5;
        double b2 = hPhiK * 2 / bh;
        double r = Math.log(schedule.sigma(i - 2) / s0) / hh; // (lambda_{s1} - lambda_{s0}) / h
        // R = [[1, 1], [r, 1]], solve R rho = b
        double det = 1 - r;
        double rho0 = (b1 - b2) / det;
        double rho1 = (b2 - r * b1) / det;
        NDArray d1 = history[1].sub(m0).div(r);
        return out.sub(d1.mul(bh * rho0).add(m.sub(m0).mul(bh * rho1)));
    }
}
