package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * iPNDM (Zhang and Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator", the improved PNDM of
 * their Sec. 4 as in zju-pi's diff-solvers and ComfyUI's {@code sample_ipndm}): Adams-Bashforth on the
 * probability-flow ODE in sigma with the fixed (uniform-step) coefficients, warming up from order 1:
 * <pre>
 *   x' = x + (s' - s) d,                                   first step
 *   x' = x + (s' - s) (3 d - d1) / 2,                       second
 *   x' = x + (s' - s) (23 d - 16 d1 + 5 d2) / 12,           third
 *   x' = x + (s' - s) (55 d - 59 d1 + 37 d2 - 9 d3) / 24,   then on
 * </pre>
 * with {@code d = (x - D(x, s))/s} and {@code d1, d2, d3} the previous steps' derivatives; a step to 0 lands on
 * {@code D(x, s)}.
 */
public final class Ipndm implements Sampler {

    private static final double[][] COEFFICIENTS = {{1}, {3 / 2.0, -1 / 2.0}, {23 / 12.0, -16 / 12.0, 5 / 12.0},
        {55 / 24.0, -59 / 24.0, 37 / 24.0, -9 / 24.0}};

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        NDArray x0 = s.denoise(x);
        if (s.next() == 0) {
            return x0;
        }
        NDArray d = div(x.sub(x0), s.sigma());
        double[] c = COEFFICIENTS[Math.min(s.index(), 3)];
        NDArray slope = mul(d, c[0]);
        for (int j = 1; j < c.length; j++) {
            slope = slope.add(mul(s.previous("d" + j), c[j]));
        }
        s.remember("d1", d);
        s.remember("d2", s.previous("d1"));
        s.remember("d3", s.previous("d2"));
        return x.add(mul(slope, s.next() - s.sigma()));
    }
}
