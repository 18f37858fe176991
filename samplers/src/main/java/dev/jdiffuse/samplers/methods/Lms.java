package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Linear multistep (Adams-Bashforth on the noise level) for the probability-flow ODE
 * {@code dx/dsigma = d = (x - D(x, sigma))/sigma}: k-diffusion's {@code sample_lms} and diffusers'
 * {@code LMSDiscreteScheduler}. With the derivatives {@code d_i, d_{i-1}, ...} of the last {@code k = min(i + 1, order)}
 * steps,
 * <pre>
 *   x' = x + sum_{j<k} c_j d_{i-j},   c_j = integral from s_i to s_{i+1} of prod_{m<k, m!=j} (tau - s_{i-m}) / (s_{i-j} - s_{i-m})
 * </pre>
 * (the Lagrange polynomial through the past derivatives, integrated over the step). The basis polynomials have degree
 * below 4, so a 3-point Gauss-Legendre rule integrates them exactly (diffusers calls scipy's adaptive {@code quad}).
 *
 * <p>An image-to-image run starts its history at its first step (k-diffusion's behaviour); diffusers instead starts
 * the step counter at {@code t_start} and weights the single derivative it has with a 4th-order coefficient.
 *
 * <p>ComfyUI's copy of {@code sample_lms} lands a step to 0 on {@code D(x, s)} instead; {@code toZeroLandsOnX0} selects
 * that (the flow entry, which follows ComfyUI).
 *
 * @param order the most derivatives combined (4 in both references)
 * @param toZeroLandsOnX0 whether a step to sigma 0 returns the prediction (ComfyUI) rather than the polynomial's step
 */
public record Lms(int order, boolean toZeroLandsOnX0) implements Sampler {

    /** diffusers' and the original k-diffusion's rule: every step is the polynomial's. */
    public Lms(int order) {
        this(order, false);
    }


    private static final double[] NODES = {-Math.sqrt(0.6), 0, Math.sqrt(0.6)};
    private static final double[] WEIGHTS = {5.0 / 9, 8.0 / 9, 5.0 / 9};

    public Lms {
        if (order < 1) {
            throw new IllegalArgumentException("LMS order must be positive, got " + order);
        }
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        NDArray x0 = s.denoise(x);
        NDArray d = div(x.sub(x0), s.sigma());
        if (toZeroLandsOnX0 && s.next() == 0) {
            return x0;
        }
        int k = Math.min(s.index() + 1, order);
        NDArray out = x.add(mul(d, coefficient(s, k, 0)));
        for (int j = 1; j < k; j++) {
            out = out.add(mul(s.previous(key(j)), coefficient(s, k, j)));
        }
        if (!s.isLast()) {
            s.remember(key(1), d);
            for (int j = 2; j < order; j++) {
                s.remember(key(j), s.previous(key(j - 1)));
            }
        }
        return out;
    }

    /** The derivative of {@code j} steps back. */
    private static String key(int j) {
        return "d" + j;
    }

    /** {@code c_j} of a {@code k}-point method at step {@code s.index()}. */
    static double coefficient(Step s, int k, int j) {
        int i = s.index();
        double a = s.sigma();
        double b = s.next();
        double sum = 0;
        for (int q = 0; q < NODES.length; q++) {
            double tau = 0.5 * (a + b) + 0.5 * (b - a) * NODES[q];
            double basis = 1;
            for (int m = 0; m < k; m++) {
                if (m != j) {
                    basis *= (tau - s.sigmaAt(i - m)) / (s.sigmaAt(i - j) - s.sigmaAt(i - m));
                }
            }
            sum += WEIGHTS[q] * basis;
        }
        return 0.5 * (b - a) * sum;
    }
}
