package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

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
 *
 * @param eta stochasticity (0: deterministic)
 * @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none
 */
public record Ddim(double eta, double clipRange) implements Sampler {

    @Override
    public NDArray step(Step s) {
        double sigma = s.sigma();
        double next = s.next();
        NDArray raw = s.denoise(s.x());
        NDArray eps = div(s.x().sub(raw), sigma);
        NDArray x0 = Clip.apply(raw, clipRange);
        s.report(x0);
        double abar = 1 / (1 + sigma * sigma);
        double abarNext = 1 / (1 + next * next);
        double std = eta * Math.sqrt((1 - abarNext) / (1 - abar) * (1 - abar / abarNext));
        double toVe = Math.sqrt(1 + next * next);
        NDArray out = x0.add(mul(eps, Math.sqrt(1 - abarNext - std * std) * toVe));
        return eta > 0 ? out.add(mul(s.noise(), std * toVe)) : out;
    }
}
