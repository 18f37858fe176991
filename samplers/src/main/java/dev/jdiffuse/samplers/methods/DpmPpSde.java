package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * DPM-Solver++ SDE: k-diffusion's {@code sample_dpmpp_sde} with {@code eta = 1}, {@code r = 1/2} (A1111's "DPM++
 * SDE", diffusers' {@code DPMSolverSDEScheduler}), a stochastic single-step second-order method (Lu et al. 2022, with
 * the ancestral split of {@link Ancestral#levels} on each stage). With {@code s_m = sqrt(s s')}:
 * <pre>
 *   stage:  (d1, u1) = split(s, s_m),   x_m = (d1/s) x + (1 - d1/s) D(x, s) + u1 n1
 *   step:   (d2, u2) = split(s, s'),    x'  = (d2/s) x + (1 - d2/s) D(x_m, s_m) + u2 n2
 * </pre>
 * ({@code fac = 1/(2r) = 1} puts all weight on the stage's prediction). {@code n1} and {@code n2} are the normalised
 * increments of one Brownian path over {@code [s_m, s]} and {@code [s', s]}: {@code n1 = z1},
 * {@code n2 = (sqrt(s - s_m) z1 + sqrt(s_m - s') z2) / sqrt(s - s')} with two fresh normals per step. The references
 * draw the same path from torchsde's Brownian tree seeded per image, so the images differ from theirs in the noise
 * drawn, not in its law. The last step (to 0) is Euler: it lands on {@code D(x, s)}.
 */
public final class DpmPpSde implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = s.denoise(x);
        if (next == 0) {
            return x0;
        }
        double mid = Math.sqrt(sigma * next);
        Ancestral stage = Ancestral.levels(sigma, mid);
        NDArray z1 = s.noise();
        NDArray xMid = DpmPp2sAncestral.exponentialStep(x, x0, stage.down() / sigma).add(mul(z1, stage.up()));
        NDArray x0Mid = s.denoiseAt(xMid, mid);
        NDArray z2 = s.noise();
        NDArray n2 = div(mul(z1, Math.sqrt(sigma - mid)).add(mul(z2, Math.sqrt(mid - next))),
                Math.sqrt(sigma - next));
        Ancestral whole = Ancestral.levels(sigma, next);
        return DpmPp2sAncestral.exponentialStep(x, x0Mid, whole.down() / sigma).add(mul(n2, whole.up()));
    }
}
