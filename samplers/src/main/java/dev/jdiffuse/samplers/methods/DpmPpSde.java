package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * DPM-Solver++ SDE: k-diffusion's {@code sample_dpmpp_sde} with {@code eta = 1}, {@code r = 1/2} (A1111's "DPM++
 * SDE", diffusers' {@code DPMSolverSDEScheduler}), a stochastic single-step second-order method (Lu et al. 2022, with
 * the ancestral split of {@link Ancestral#levels} on each stage). With {@code s_m} halfway between {@code s} and
 * {@code s'} in half log-SNR ({@code sqrt(s s')} in the variance-exploding state):
 * <pre>
 *   stage:  (d1, u1) = split(s, s_m),   x_m = (d1/s) x + (1 - d1/s) D(x, s) + u1 n1
 *   step:   (d2, u2) = split(s, s'),    x'  = (d2/s) x + (1 - d2/s) D(x_m, s_m) + u2 n2
 * </pre>
 * ({@code fac = 1/(2r) = 1} puts all weight on the stage's prediction). On rectified flow (ComfyUI's form with
 * {@code sigma_to_half_log_snr}) each move is made in the equivalent variance-exploding state {@code x/alpha}: the
 * split is of {@code v = s/alpha}, the move {@code alpha_t ((d/s) x + (1 - d/v) D + u n)}. {@code n1} and
 * {@code n2} are the normalised increments of one Brownian path over {@code [s_m, s]} and {@code [s', s]}:
 * {@code n1 = z1}, {@code n2 = (sqrt(s - s_m) z1 + sqrt(s_m - s') z2) / sqrt(s - s')} with two fresh normals per step.
 * The references draw the same path from torchsde's Brownian tree seeded per image, so the images differ from theirs
 * in the noise drawn, not in its law. The last step (to 0) is Euler: it lands on {@code D(x, s)}. From pure flow noise
 * ({@code s = 1}) {@code v} is {@link Interpolant#noiseToSignal}'s clamped level while the weight of {@code x} keeps
 * {@code s = 1} (1e-4 apart; the state there is pure noise).
 *
 * @param path the state the model samples in
 */
public record DpmPpSde(Interpolant path) implements Sampler {

    /** In the variance-exploding state (diffusion models). */
    public DpmPpSde() {
        this(Interpolant.VARIANCE_EXPLODING);
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = s.denoise(x);
        if (next == 0) {
            return x0;
        }
        double mid = path.midpoint(sigma, next);
        double v = path.noiseToSignal(sigma);
        NDArray z1 = s.noise();
        NDArray xMid = move(x, x0, z1, Ancestral.levels(v, path.noiseToSignal(mid)), sigma, v, path.alpha(mid));
        NDArray x0Mid = s.denoiseAt(xMid, mid);
        NDArray z2 = s.noise();
        NDArray n2 = div(mul(z1, Math.sqrt(sigma - mid)).add(mul(z2, Math.sqrt(mid - next))),
                Math.sqrt(sigma - next));
        return move(x, x0Mid, n2, Ancestral.levels(v, path.noiseToSignal(next)), sigma, v, path.alpha(next));
    }

    /**
     * {@code alpha_t ((down/s) x + (1 - down/v) x0 + up z)}: the first-order exponential move of the equivalent
     * variance-exploding state from {@code v = s/alpha} to {@code down}, with noise {@code up}, scaled back
     * ({@code x/alpha_s} at {@code v} is {@code x v/s}).
     */
    private static NDArray move(NDArray x, NDArray x0, NDArray z, Ancestral a, double sigma, double v,
            double alphaTarget) {
        NDArray out = mul(x, a.down() / sigma).add(mul(x0, 1 - a.down() / v)).add(mul(z, a.up()));
        return alphaTarget == 1 ? out : mul(out, alphaTarget);
    }
}
