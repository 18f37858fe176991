package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Ancestral DPM-Solver++(2S) CFG++ (ComfyUI's {@code sample_dpmpp_2s_ancestral_cfg_pp}): {@link DpmPp2sAncestral}'s
 * two stages taken along the unconditional predictions, the ancestral noise, then the first evaluation's guidance
 * {@code D - D_u} added on top:
 * <pre>
 *   x_m = (s_m/s) x + (1 - s_m/s) D_u(x, s),   x' = (s_down/s) x + (1 - s_down/s) D_u(x_m, s_m) + s_up z + (D - D_u)
 * </pre>
 * ({@code s_m = sqrt(s s_down)}); the last step ({@code s_down = 0}) lands on {@code D}. Without guidance this is
 * DPM++ 2S a.
 */
public final class DpmPp2sAncestralCfgPp implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next());
        Denoiser.Guided g = s.denoiseGuided(x);
        NDArray guidance = g.guided().sub(g.unconditional());
        if (a.down() == 0) {
            return g.guided();
        }
        double mid = Math.sqrt(sigma * a.down());
        NDArray xMid = DpmPp2sAncestral.exponentialStep(x, g.unconditional(), mid / sigma);
        NDArray uMid = s.denoiseGuidedAt(xMid, mid).unconditional();
        NDArray moved = DpmPp2sAncestral.exponentialStep(x, uMid, a.down() / sigma);
        return moved.add(mul(s.noise(), a.up())).add(guidance);
    }
}
