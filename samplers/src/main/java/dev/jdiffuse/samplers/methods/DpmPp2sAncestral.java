package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Ancestral DPM-Solver++(2S): Lu et al. 2022, "DPM-Solver++", Algorithm 1 (single-step, second order, data
 * prediction, {@code r = 1/2}) aimed at {@code s_down}, then fresh noise of scale {@code s_up} ({@link Ancestral});
 * k-diffusion's {@code sample_dpmpp_2s_ancestral} (A1111's "DPM++ 2S a"). With the stage {@code s_m} halfway between
 * {@code s} and {@code s_down} in half log-SNR ({@code sqrt(s s_down)} in the variance-exploding state):
 * <pre>
 *   x_m = (s_m/s) x + (1 - s_m/s) D(x, s),   x' = (s_down/s) x + (1 - s_down/s) D(x_m, s_m) + s_up z
 * </pre>
 * ({@code -(e^-h - 1) = 1 - s_down/s}). On rectified flow this is ComfyUI's {@code sample_dpmpp_2s_ancestral_RF}: the
 * same moves, the stage halfway in {@code ln((1 - s)/s)} (at 0.9999 from pure noise), the ancestral rescale before the
 * noise. The last step ({@code s_down = 0}) lands on {@code D(x, s)}; no noise there.
 *
 * @param path the state the model samples in
 */
public record DpmPp2sAncestral(Interpolant path) implements Sampler {

    /** In the variance-exploding state (diffusion models). */
    public DpmPp2sAncestral() {
        this(Interpolant.VARIANCE_EXPLODING);
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next(), path);
        NDArray x0 = s.denoise(x);
        if (a.down() == 0) {
            return x0;
        }
        double mid = stage(sigma, a.down());
        NDArray xMid = exponentialStep(x, x0, mid / sigma);
        return a.renoise(exponentialStep(x, s.denoiseAt(xMid, mid), a.down() / sigma), s.noise());
    }

    private double stage(double sigma, double down) {
        if (path == Interpolant.VARIANCE_EXPLODING) {
            return Math.sqrt(sigma * down);
        }
        // ln(alpha/s) unclamped, as the reference's lambda_fn; pure noise has the reference's fixed stage
        return sigma >= 1 ? 0.9999
                : path.sigmaAt((Math.log(path.alpha(sigma) / sigma) + Math.log(path.alpha(down) / down)) / 2);
    }

    /**
     * The first-order exponential-integrator move {@code r x + (1 - r) x0} with {@code r = s_target / s} (DPM-Solver++'s
     * {@code (sigma_t/sigma_s) x - (e^-h - 1) x0} in the variance-exploding state).
     */
    static NDArray exponentialStep(NDArray x, NDArray x0, double ratio) {
        return mul(x, ratio).add(mul(x0, 1 - ratio));
    }
}
