package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Heun's second-order method: Karras et al. 2022, Algorithm 1. An Euler predictor {@code x~ = x + (s' - s) d}, then
 * the trapezoidal corrector {@code x' = x + (s' - s) (d + d')/2} with {@code d' = (x~ - D(x~, s'))/s'}; the last step
 * to {@code s' = 0} stays Euler. {@code x0} is clipped to {@code [-clipRange, clipRange]} when finite (diffusers'
 * {@code clip_sample}).
 *
 * @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none
 */
public record Heun(double clipRange) implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double h = s.next() - s.sigma();
        NDArray x0 = Clip.apply(s.denoise(x), clipRange);
        s.report(x0);
        NDArray d = div(x.sub(x0), s.sigma());
        NDArray euler = x.add(mul(d, h));
        if (s.next() == 0) {
            return euler;
        }
        NDArray x0Next = Clip.apply(s.denoiseAtNext(euler), clipRange);
        s.report(x0Next);
        NDArray dNext = div(euler.sub(x0Next), s.next());
        return x.add(mul(d.add(dNext), 0.5 * h));
    }
}
