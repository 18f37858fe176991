package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * SDE-DPM-Solver++(2M): Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
 * Models", Sec. 5 / Appendix (the SDE counterpart of Algorithm 2), as diffusers' {@code DPMSolverMultistepScheduler}
 * with {@code algorithm_type="sde-dpmsolver++"}, {@code solver_type="midpoint"} (A1111's "DPM++ 2M SDE"). With
 * {@code lambda = -ln sigma} in the variance-exploding state, {@code h = lambda' - lambda} and {@code r = s'/s = e^-h}:
 * <pre>
 *   x' = r^2 x + (1 - r^2) (D0 + D1/2) + s' sqrt(1 - r^2) z,   D1 = (D0 - D_prev) h / (lambda - lambda_prev)
 * </pre>
 * (diffusers' {@code (sigma_t / sigma_s) e^-h x + alpha_t (1 - e^-2h) (D0 + D1/2) + sigma_t sqrt(1 - e^-2h) z}
 * divided by {@code alpha_t}). For exact x0 the new sample has exactly the marginal {@code x0 + s' eps}. First and
 * last steps are first order under {@link DpmPp2m}'s rules ({@code D1 = 0}); noise is drawn on every step after the
 * denoiser call, the last one too (scale 0 when it lands on 0), as diffusers draws it.
 *
 * On rectified flow it is k-diffusion's {@code sample_dpmpp_2m_sde} as ComfyUI runs it there: {@code h} in half log-SNR
 * {@code ln(alpha/s)} ({@code e^-h = v'/v}, {@code v = s/alpha}), {@code x' = (s'/s) e^-h x + alpha' (1 - e^-2h)
 * (D0 + D1/2) + s' sqrt(1 - e^-2h) z}.
 *
 * @param lowerOrderFinal diffusers' {@code lower_order_final}
 * @param eulerAtFinal diffusers' {@code euler_at_final}
 * @param path the state the model samples in
 * @param heun the Heun form of the second-order term (k-diffusion's {@code sample_dpmpp_2m_sde_heun}, A1111's "DPM++ 2M
 *     SDE Heun") instead of the midpoint
 */
public record DpmPp2mSde(boolean lowerOrderFinal, boolean eulerAtFinal, Interpolant path, boolean heun)
        implements Sampler {

    /** The midpoint form in the variance-exploding state (diffusion models). */
    public DpmPp2mSde(boolean lowerOrderFinal, boolean eulerAtFinal) {
        this(lowerOrderFinal, eulerAtFinal, Interpolant.VARIANCE_EXPLODING, false);
    }

    @Override
    public NDArray step(Step s) {
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = s.denoise(s.x());
        NDArray z = s.noise();
        NDArray d = DpmPp2m.correctedX0(s, x0, lowerOrderFinal, eulerAtFinal, path, heun ? DpmPp2mSde::heunWeight
                : h -> 0.5);
        double r = path.noiseToSignal(next) / path.noiseToSignal(sigma); // e^-h
        return mul(s.x(), next / sigma * r).add(mul(d, path.alpha(next) * (1 - r * r)))
                .add(mul(z, next * Math.sqrt(1 - r * r)));
    }

    /**
     * The Heun form's weight of {@code D1} relative to {@code (1 - e^-2h)}: diffusers' and k-diffusion's
     * {@code solver_type="heun"} term {@code ((1 - e^-2h)/(-2h) + 1) D1} over the midpoint form's
     * {@code (1 - e^-2h) D1/2}.
     */
    private static double heunWeight(double h) {
        double e = -Math.expm1(-2 * h); // 1 - e^-2h
        return (1 - e / (2 * h)) / e;
    }
}
