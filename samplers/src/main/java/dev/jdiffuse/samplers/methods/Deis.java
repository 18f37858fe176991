package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * DEIS (Zhang and Chen 2023, "Fast Sampling of Diffusion Models with Exponential Integrator", the time-based
 * Adams-Bashforth "tAB" variant, third order, as zju-pi's diff-solvers and ComfyUI's {@code sample_deis}): the noise
 * prediction {@code d = (x - D)/s} is interpolated by a Lagrange polynomial through the last {@code k} steps in the
 * variance-preserving time {@code t} of a reference VP schedule, and integrated exactly against {@code ds}:
 * <pre>
 *   x' = x + sum_j C_j d_{n-j},   C_j = integral from t_n to t_n+1 of L_j(tau) (ds/dtau) dtau
 *   ds/dtau = -(1/2) (d ln alpha/dtau) / sqrt(alpha (1 - alpha)),   ln alpha(tau) = -tau^2 (b1 - b0)/2 - tau b0
 * </pre>
 * with the reference's VP schedule (EDM's {@code sigma_min} 0.002, {@code sigma_max} 80, {@code eps_s} 1e-3) and its
 * 10000-point sum for the integral. Order 1 (Euler) on the first step and the step to 0, then 2, then 3.
 */
public final class Deis implements Sampler {

    private static final int MAX_ORDER = 3;
    private static final int POINTS = 10000;
    private static final double EPS_S = 1e-3;
    private static final double BETA_D;
    private static final double BETA_MIN;

    static {
        double lnMin = Math.log(0.002 * 0.002 + 1);
        double lnMax = Math.log(80.0 * 80.0 + 1);
        BETA_D = 2 * (lnMin / EPS_S - lnMax) / (EPS_S - 1);
        BETA_MIN = lnMax - 0.5 * BETA_D;
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        int i = s.index();
        double sigma = s.sigma();
        double next = s.next();
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        NDArray d1 = s.previous("d1");
        NDArray d2 = s.previous("d2");
        s.remember("d1", d);
        s.remember("d2", d1);
        int order = next <= 0 ? 1 : Math.min(MAX_ORDER, i + 1);
        if (order == 1) {
            return x.add(mul(d, next - sigma));
        }
        double[] nodes = new double[order];
        for (int k = 0; k < order; k++) {
            nodes[k] = vpTime(s.sigmaAt(i - k));
        }
        double[] c = coefficients(nodes, vpTime(next));
        NDArray out = x.add(mul(d, c[0])).add(mul(d1, c[1]));
        return order == 3 ? out.add(mul(d2, c[2])) : out;
    }

    /** The VP time of a level: the inverse of {@code s(t) = sqrt(e^(b_d t^2/2 + b_min t) - 1)}. */
    static double vpTime(double sigma) {
        return (Math.sqrt(BETA_MIN * BETA_MIN + 2 * BETA_D * Math.log(sigma * sigma + 1)) - BETA_MIN) / BETA_D;
    }

    /**
     * {@code C_j} for Lagrange nodes {@code nodes[0] = t_n, nodes[1] = t_{n-1}, ...} over {@code [t_n, end]}: the
     * reference's sum over {@code POINTS} evenly spaced points from {@code t_n} to {@code end} inclusive, times
     * {@code (end - t_n)/POINTS}.
     */
    static double[] coefficients(double[] nodes, double end) {
        double start = nodes[0];
        double dtau = (end - start) / POINTS;
        double b0 = BETA_MIN;
        double b1 = BETA_D + BETA_MIN;
        double[] c = new double[nodes.length];
        for (int p = 0; p < POINTS; p++) {
            double tau = start + (end - start) * p / (POINTS - 1);
            double alpha = Math.exp(-0.5 * tau * tau * (b1 - b0) - tau * b0);
            double integrand = -0.5 * (-tau * (b1 - b0) - b0) / Math.sqrt(alpha * (1 - alpha));
            for (int j = 0; j < nodes.length; j++) {
                double poly = 1;
                for (int k = 0; k < nodes.length; k++) {
                    if (k != j) {
                        poly *= (tau - nodes[k]) / (nodes[j] - nodes[k]);
                    }
                }
                c[j] += integrand * poly * dtau;
            }
        }
        return c;
    }
}
