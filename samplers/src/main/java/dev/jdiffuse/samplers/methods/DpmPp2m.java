package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import java.util.function.DoubleUnaryOperator;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * DPM-Solver++(2M): Lu et al. 2022, "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic
 * Models", Algorithm 2 (multistep, data prediction, midpoint form as diffusers' {@code solver_type="midpoint"}).
 * With {@code lambda = -ln sigma} (the half log-SNR in the variance-exploding state), {@code h = lambda' - lambda}:
 * <pre>
 *   first order:  x' = (s'/s) x - (e^-h - 1) D0
 *   second order: x' = (s'/s) x - (e^-h - 1) (D0 + D1/2),  D1 = (D0 - D_prev) h / (lambda - lambda_prev)
 * </pre>
 * The first step is first order; so is the last when it lands on sigma 0, or when {@code eulerAtFinal}, or when
 * {@code lowerOrderFinal} and fewer than 15 steps (diffusers' {@code lower_order_final} rule, which stabilises
 * few-step runs).
 *
 * @param lowerOrderFinal diffusers' {@code lower_order_final}
 * @param eulerAtFinal diffusers' {@code euler_at_final}
 */
public record DpmPp2m(boolean lowerOrderFinal, boolean eulerAtFinal) implements Sampler {

    @Override
    public NDArray step(Step s) {
        double ratio = s.next() / s.sigma(); // e^-h
        NDArray d = correctedX0(s, s.denoise(s.x()), lowerOrderFinal, eulerAtFinal,
                Interpolant.VARIANCE_EXPLODING, h -> 0.5);
        return mul(s.x(), ratio).add(mul(d, 1 - ratio));
    }

    /**
     * {@code D0 + w(h) D1} ({@code w = 1/2}: the midpoint update) of the multistep update from this step's {@code x0} and the previous one's (kept
     * under {@code "x0"}), or {@code x0} alone on a first-order step (the first; the last by the rules above). Shared
     * with {@link DpmPp2mSde}; the steps {@code h} are in {@code path}'s half log-SNR. DPM++ 2M itself always steps in
     * {@code -ln s}: it solves the probability-flow ODE, which has the same form in every state (ComfyUI runs it so on
     * flow models).
     */
    static NDArray correctedX0(Step s, NDArray x0, boolean lowerOrderFinal, boolean eulerAtFinal, Interpolant path,
            DoubleUnaryOperator weight) {
        double sigma = s.sigma();
        double next = s.next();
        boolean firstOrder = s.isFirst()
                || s.isLast() && (next == 0 || eulerAtFinal || lowerOrderFinal && s.steps() < 15);
        NDArray d = x0;
        if (!firstOrder) {
            double v = path.noiseToSignal(sigma);
            double h = Math.log(v / path.noiseToSignal(next));
            double hPrev = Math.log(path.noiseToSignal(s.sigmaAt(s.index() - 1)) / v);
            d = x0.add(mul(x0.sub(s.previous("x0")), weight.applyAsDouble(h) * h / hPrev));
        }
        s.remember("x0", s.isLast() ? null : x0);
        return d;
    }
}
