package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * UniPC: Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models",
 * with diffusers' defaults: order 2, data prediction ({@code predict_x0}), {@code B(h) = e^h - 1} ("bh2"),
 * {@code lower_order_final}, corrector on every step. In the variance-exploding state with
 * {@code lambda = -ln sigma}, {@code h = lambda' - lambda}, {@code phi1 = e^-h - 1}:
 * <pre>
 *   predictor UniP-p:  x' = (s'/s) x - phi1 m0 - phi1 sum_k rho_p,k D_k         (rho_p = 1/2 for order 2)
 *   corrector UniC-p:  x^c = (s/s_prev) x_prev^c - phi1 m_prev
 *                            - phi1 (sum_k rho_c,k D_k + rho_c,last (m - m_prev))
 * </pre>
 * where {@code D_k = (m_k - m0) / r_k}, {@code r_k = (lambda_k - lambda_0)/h}, and {@code rho_c} solves
 * {@code R rho = b} with {@code R_ij = r_j^(i-1)}, {@code b_i = i! phi_{i+1}(h) / B(h)} (eq. 8 and Algorithm 2).
 * The network is evaluated on the predictor's sample; the corrector then refines that sample with the new evaluation
 * before the next prediction. The order is 1 on the first and the last step ({@code lower_order_final}); the last
 * prediction is not corrected. {@code bh1} selects {@code B(h) = h} (diffusers' {@code solver_type="bh1"}, ComfyUI's
 * {@code uni_pc}), which changes the weight of the higher-order terms, not the first-order step.
 *
 * @param bh1 {@code B(h) = h} instead of {@code e^h - 1}
 */
public record UniPc(boolean bh1) implements Sampler {

    /** diffusers' default, bh2. */
    public UniPc() {
        this(false);
    }

    @Override
    public NDArray step(Step s) {
        int i = s.index();
        NDArray m = s.denoise(s.x());
        NDArray sample = s.isFirst() ? s.x() : correct(s, m, order(i - 1, s.steps()), bh1);
        NDArray next = predict(s, sample, m, s.previous("m"), order(i, s.steps()), bh1);
        s.remember("m_prev", s.previous("m"));
        s.remember("m", m);
        s.remember("sample", sample);
        return next;
    }

    /** 1 on the first step and on the last ({@code lower_order_final}), else 2. */
    private static int order(int i, int steps) {
        return Math.min(Math.min(2, steps - i), i + 1);
    }

    /** UniP-2 from {@code x} at step i's sigma with model outputs {@code m0} (now) and {@code m1} (previous step). */
    private static NDArray predict(Step s, NDArray x, NDArray m0, NDArray m1, int order, boolean bh1) {
        double s0 = s.sigma();
        double t = s.next();
        double phi1 = t / s0 - 1;
        NDArray out = mul(x, t / s0).sub(mul(m0, phi1));
        if (order == 2) {
            double h = Math.log(s0 / t);
            double r = Math.log(s.sigmaAt(s.index() - 1) / s0) / -h;
            double bh = bh1 ? -h : phi1; // B(h)
            out = out.sub(mul(m1.sub(m0), bh * 0.5 / r));
        }
        return out;
    }

    /** UniC of the previous step's prediction, using this step's model output {@code m}. */
    private static NDArray correct(Step s, NDArray m, int order, boolean bh1) {
        int i = s.index();
        double s0 = s.sigmaAt(i - 1);
        double t = s.sigma();
        double hh = -Math.log(s0 / t); // -h
        double phi1 = Math.expm1(hh); // h phi_1(h)
        double bh = bh1 ? hh : phi1; // B(h)
        NDArray m0 = s.previous("m");
        NDArray out = mul(s.previous("sample"), t / s0).sub(mul(m0, phi1));
        if (order == 1) {
            return out.sub(mul(m.sub(m0), bh * 0.5));
        }
        double b1 = (phi1 / hh - 1) / bh;
        double b2 = ((phi1 / hh - 1) / hh - 0.5) * 2 / bh;
        double r = Math.log(s.sigmaAt(i - 2) / s0) / hh; // (lambda_{s1} - lambda_{s0}) / h
        double det = 1 - r; // R = [[1, 1], [r, 1]], solve R rho = b
        double rho0 = (b1 - b2) / det;
        double rho1 = (b2 - r * b1) / det;
        NDArray d1 = div(s.previous("m_prev").sub(m0), r);
        return out.sub(mul(d1, bh * rho0).add(mul(m.sub(m0), bh * rho1)));
    }
}
