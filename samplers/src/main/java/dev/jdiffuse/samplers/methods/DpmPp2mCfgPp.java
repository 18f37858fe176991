package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * DPM-Solver++(2M) CFG++ (ComfyUI's {@code sample_dpmpp_2m_cfg_pp}): {@link DpmPp2m}'s multistep update in which the
 * exponential decay acts on the unconditional prediction and the guided one is kept whole. With
 * {@code e^-h = s'/s}, {@code r = h_prev/h}:
 * <pre>
 *   x' = D + e^-h (x - D_u)                                                   first step, step to 0
 *   x' = D + e^-h (x - D_u) + (1 - e^-h) (D - D_u,prev)/(2r)                  otherwise
 * </pre>
 * Without guidance ({@code D_u = D}) this is k-diffusion's DPM++ 2M.
 */
public final class DpmPp2mCfgPp implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        Denoiser.Guided g = s.denoiseGuided(x);
        NDArray previous = s.previous("u");
        s.remember("u", s.isLast() ? null : g.unconditional());
        double decay = next / sigma; // e^-h
        NDArray out = g.guided().add(mul(x.sub(g.unconditional()), decay));
        if (previous == null || next == 0) {
            return out;
        }
        double h = Math.log(sigma / next);
        double r = Math.log(s.sigmaAt(s.index() - 1) / sigma) / h;
        return out.add(mul(g.guided().sub(previous), (1 - decay) / (2 * r)));
    }
}
