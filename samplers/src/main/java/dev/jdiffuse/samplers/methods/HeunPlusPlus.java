package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Heun++ (Carzit's sd-webui-samplers-scheduler "Heun++ 2", MIT, as ComfyUI's {@code sample_heunpp2}): Euler
 * predictions to the next level and, where there is one before the end, the level after it; the step then uses a
 * weighted mean of the derivatives found there, weighted towards the current one early in the run:
 * <pre>
 *   d = (x - D(x, s))/s,   x_2 = x + (s_1 - s) d,   d_2 at s_1,   x_3 = x_2 + (s_2 - s_1) d_2,   d_3 at s_2
 *   x' = x + (s_1 - s) (w1 d + w2 d_2 + w3 d_3),   w2 = s_1/(3 s_0),   w3 = s_2/(3 s_0),   w1 = 1 - w2 - w3
 * </pre>
 * The last-but-one step is Heun-like ({@code w2 = s_1/(2 s_0)}, two evaluations), the last one Euler. Three
 * evaluations per step otherwise.
 */
public final class HeunPlusPlus implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        int i = s.index();
        double sigma = s.sigma();
        double next = s.next();
        double end = s.sigmaAt(s.steps());
        double first = s.sigmaAt(0);
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        double dt = next - sigma;
        if (next == end) {
            return x.add(mul(d, dt));
        }
        NDArray x2 = x.add(mul(d, dt));
        NDArray d2 = div(x2.sub(s.denoiseAtNext(x2)), next);
        double after = s.sigmaAt(i + 2);
        NDArray slope;
        if (after == end) {
            double w2 = next / (2 * first);
            slope = mul(d, 1 - w2).add(mul(d2, w2));
        } else {
            NDArray x3 = x2.add(mul(d2, after - next));
            NDArray d3 = div(x3.sub(s.denoiseAt(x3, after)), after);
            double w2 = next / (3 * first);
            double w3 = after / (3 * first);
            slope = mul(d, 1 - w2 - w3).add(mul(d2, w2)).add(mul(d3, w3));
        }
        return x.add(mul(slope, dt));
    }
}
