package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * PLMS, the pseudo linear multistep method of Liu et al. 2022, "Pseudo Numerical Methods for Diffusion Models on
 * Manifolds" (PNDM), as diffusers' {@code PNDMScheduler} runs it with {@code skip_prk_steps=True} (crowsonkb's PLMS
 * of CompVis/latent-diffusion#51, Stable Diffusion 1.x's published scheduler and AUTOMATIC1111's "PLMS").
 *
 * <p>The transfer {@code phi} of the paper's eq. 9, {@code x_vp' = sqrt(a'/a) x_vp - (a' - a) e / (a sqrt(1 - a') +
 * sqrt(a (1 - a) a'))} (diffusers' {@code _get_prev_sample}, {@code a = alphas_cumprod}), equals DDIM's deterministic
 * step {@code x_vp' = sqrt(a') (x_vp - sqrt(1 - a) e)/sqrt(a) + sqrt(1 - a') e}; divided by {@code sqrt(a')} it is, in
 * the variance-exploding state {@code x = x0 + s e} ({@code s = sqrt((1 - a)/a)}),
 * <pre>
 *   x' = x + (s' - s) e',     with the network's noise e = (x - D(x, s)) / s
 * </pre>
 * and {@code e'} a linear multistep combination of the noise predictions {@code e_i} at the steps' start levels
 * (paper eq. 12; the coefficients assume equal steps, as diffusers does):
 * <pre>
 *   step 0:  e' = (e_0 + e~_1) / 2,   e~_1 = eps(x + (s_1 - s_0) e_0, s_1)   (trapezoidal predictor-corrector)
 *   step 1:  e' = (3 e_1 - e_0) / 2
 *   step 2:  e' = (23 e_2 - 16 e_1 + 5 e_0) / 12
 *   step k:  e' = (55 e_k - 59 e_{k-1} + 37 e_{k-2} - 9 e_{k-3}) / 24,   k >= 3
 * </pre>
 * Step 0 is diffusers' first two calls: the first moves the sample {@code t_0 -> t_1} with {@code e_0} and keeps
 * {@code x}; the second (at the repeated timestep {@code t_1}) evaluates {@code e~_1} on that prediction and steps
 * {@code t_0 -> t_1} again from the kept {@code x} with the average. {@code e~_1} joins no history (diffusers'
 * {@code ets} skips it), so step 1 evaluates the network at {@code t_1} again on the corrected sample. A run of one
 * step has no corrector (diffusers' timesteps are then {@code [t_0]} alone). See
 * {@link dev.jdiffuse.schedulers.DiffusersSchedules} for the timesteps.
 */
public record Plms() implements Sampler {

    private static final String[] HISTORY = {"eps1", "eps2", "eps3"};

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double h = s.next() - sigma;
        NDArray eps = div(x.sub(s.denoise(x)), sigma);
        NDArray e1 = s.previous(HISTORY[0]);
        NDArray e2 = s.previous(HISTORY[1]);
        NDArray e3 = s.previous(HISTORY[2]);
        NDArray combined;
        if (s.isFirst() && !s.isLast()) {
            NDArray predicted = x.add(mul(eps, h));
            NDArray epsNext = div(predicted.sub(s.denoiseAtNext(predicted)), s.next());
            combined = mul(eps.add(epsNext), 0.5);
        } else if (e1 == null) {
            combined = eps;
        } else if (e2 == null) {
            combined = div(mul(eps, 3).sub(e1), 2);
        } else if (e3 == null) {
            combined = div(mul(eps, 23).sub(mul(e1, 16)).add(mul(e2, 5)), 12);
        } else {
            combined = div(mul(eps, 55).sub(mul(e1, 59)).add(mul(e2, 37)).sub(mul(e3, 9)), 24);
        }
        if (!s.isLast()) {
            s.remember(HISTORY[0], eps);
            s.remember(HISTORY[1], e1);
            s.remember(HISTORY[2], e2);
        }
        return x.add(mul(combined, h));
    }
}
