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
 * Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12: {@code x_prev = sqrt(abar') x0 +
 * sqrt(1 - abar' - std^2) eps + std z}, {@code std = eta sqrt((1 - abar')/(1 - abar) (1 - abar/abar'))} (eq. 16).
 * {@code eta = 0} is the deterministic DDIM, {@code eta = 1} DDPM-like. Divided by {@code sqrt(abar')} this is, in the
 * variance-exploding state, {@code x' = x0 + sqrt(s'^2 - std^2 (1 + s'^2)) eps + std sqrt(1 + s'^2) z} with
 * {@code eps = (x - x0)/s}.
 *
 * <p>As in diffusers, {@code eps} comes from the unclipped prediction while the clipped {@code x0} is used
 * ({@code use_clipped_model_output=False}); noise is drawn on every step when {@code eta > 0}. The level the last
 * step lands on ({@code set_alpha_to_one}) is the schedule's last sigma; see
 * {@link dev.jdiffuse.schedulers.DiffusersSchedules} for how diffusers' {@code t - T//n} stepping is reproduced.
 */
public final class Ddim implements Sampler {

    private final double eta;
    private final double clipRange;

    /**
     * @param eta stochasticity (0: deterministic)
     * @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none
     */
    public Ddim(double eta, double clipRange) {
        this.eta = eta;
        this.clipRange = clipRange;
    }

    @Override
    public String name() {
        return "ddim";
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
                NDArray raw = denoiser.denoise(cur, new NoiseLevel(s, schedule.timestepOf(i), i, n), cond);
                NDArray eps = cur.sub(raw).div(s);
                NDArray x0 = Clip.apply(raw, clipRange);
                double abar = 1 / (1 + s * s);
                double abarPrev = 1 / (1 + next * next);
                double std = eta * Math.sqrt((1 - abarPrev) / (1 - abar) * (1 - abar / abarPrev));
                double toVe = Math.sqrt(1 + next * next);
                NDArray nx = x0.add(eps.mul(Math.sqrt(1 - abarPrev - std * std) * toVe));
                if (eta > 0) {
                    nx = nx.add(noise.normal(nx.getManager(), nx.getShape()).mul(std * toVe));
                }
                listener.onStep(i, n, next, nx, x0);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
