package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * ER-SDE-Solver-3 (Cui et al. 2023, "Elucidating the Solution Space of Extended Reverse-Time SDE for Diffusion
 * Models", the VP solver of Algorithm 2 as ComfyUI's {@code sample_er_sde}). In {@code v = s/alpha} (the equivalent
 * variance-exploding level) with the noise scaler {@code f(v) = v (e^(v^0.3) + 10)} and {@code r = f(v')/f(v)}:
 * <pre>
 *   x' = (alpha'/alpha) r x + alpha' (1 - r) D0
 *        + alpha' (dv + S1 f(v')) D1 + alpha' (dv^2/2 + S2 f(v')) D2 + alpha' sqrt(v'^2 - v^2 r^2) z
 *   D1 = (D0 - D_prev)/(v - v_prev),   D2 = (D1 - D1_prev)/((v - v_prev2)/2),   dv = v' - v
 *   S1 = integral over [v', v] of 1/f,   S2 = integral of (u - v)/f(u)   (200-point sums, as the reference)
 * </pre>
 * Stage 1 on the first step, 2 on the second, 3 from the third; a step to 0 lands on {@code D0}. Fresh noise on every
 * step but that last one.
 *
 * @param path the state the model samples in
 */
public record ErSde(Interpolant path) implements Sampler {

    private static final int POINTS = 200;

    /** In the variance-exploding state (diffusion models). */
    public ErSde() {
        this(Interpolant.VARIANCE_EXPLODING);
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        int i = s.index();
        NDArray x0 = s.denoise(x);
        NDArray previous = s.previous("x0");
        NDArray previousD1 = s.previous("d1");
        s.remember("x0", s.isLast() ? null : x0);
        if (next == 0) {
            return x0;
        }
        double v = path.noiseToSignal(sigma);
        double vNext = path.noiseToSignal(next);
        double alpha = sigma / v;
        double alphaNext = next / vNext;
        double r = scaler(vNext) / scaler(v);
        NDArray out = mul(x, alphaNext / alpha * r).add(mul(x0, alphaNext * (1 - r)));
        if (i >= 1) {
            double dv = vNext - v;
            double step = -dv / POINTS;
            double s1 = 0;
            double s2 = 0;
            for (int k = 0; k < POINTS; k++) {
                double u = vNext + k * step;
                s1 += 1 / scaler(u);
                s2 += (u - v) / scaler(u);
            }
            s1 *= step;
            s2 *= step;
            NDArray d1 = div(x0.sub(previous), v - path.noiseToSignal(s.sigmaAt(i - 1)));
            out = out.add(mul(d1, alphaNext * (dv + s1 * scaler(vNext))));
            if (i >= 2) {
                NDArray d2 = div(d1.sub(previousD1), (v - path.noiseToSignal(s.sigmaAt(i - 2))) / 2);
                out = out.add(mul(d2, alphaNext * (dv * dv / 2 + s2 * scaler(vNext))));
            }
            s.remember("d1", d1);
        }
        double spread = vNext * vNext - v * v * r * r;
        return out.add(mul(s.noise(), alphaNext * (spread > 0 ? Math.sqrt(spread) : 0)));
    }

    /** The reference's default noise scaler {@code v (e^(v^0.3) + 10)}. */
    private static double scaler(double v) {
        return v * (Math.exp(Math.pow(v, 0.3)) + 10);
    }
}
