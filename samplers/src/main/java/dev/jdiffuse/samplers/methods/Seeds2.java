package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * SEEDS-2 (Gonzalez et al. 2023, "SEEDS: Exponential SDE Solvers for Fast High-Quality Sampling from Diffusion
 * Models", the two-stage data-prediction solver in half log-SNR {@code lambda = ln(alpha/s)}, as ComfyUI's
 * {@code sample_seeds_2}) and its deterministic and stochastic exponential Heun cases ({@code sample_exp_heun_2_x0},
 * {@code _sde}: {@code r = 1}, the phi_2 form). With {@code h = lambda' - lambda}, {@code h_eta = (1 + eta) h} and
 * the stage at {@code lambda_1 = lambda + r h}:
 * <pre>
 *   x_1 = (s_1/s) e^(-r h eta) x - alpha_1 (e^(-r h_eta) - 1) D0 + s_1 sqrt(1 - e^(-2 r h eta)) z1
 *   phi_1:  x' = (s'/s) e^(-h eta) x - alpha' (e^-h_eta - 1) (D0 + (D1 - D0)/(2r)) + noise
 *   phi_2:  x' = (s'/s) e^(-h eta) x - alpha' (b1 D0 + b2 D1),  b2 = ((e^-h_eta - 1 + h_eta)/(-h_eta))/r,
 *           b1 = (e^-h_eta - 1) - b2
 *   noise = s' (e^((r - 1) h eta) sqrt(1 - e^(-2 r h eta)) z1 + sqrt(1 - e^(2 (r - 1) h eta)) z2)
 * </pre>
 * ({@code D1 = D(x_1, s_1)}); the second noise continues the first over the rest of the step, so the step's noise has
 * the one-step variance. A step to 0 lands on {@code D0}. With eta 0 nothing is drawn.
 *
 * @param eta 1 for the SDE, 0 for the ODE
 * @param r where the stage lies, as a fraction of the step in half log-SNR
 * @param phi2 the phi_2 combination of the two predictions instead of phi_1's extrapolation
 * @param path the state the model samples in
 */
public record Seeds2(double eta, double r, boolean phi2, Interpolant path) implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = s.denoise(x);
        if (next == 0) {
            return x0;
        }
        double lambda = path.halfLogSnr(sigma);
        double lambdaNext = path.halfLogSnr(next);
        double h = lambdaNext - lambda;
        double hEta = h * (eta + 1);
        double lambda1 = lambda + r * h;
        double stage = r == 1 ? next : path.sigmaAt(lambda1);
        double alpha1 = stage * Math.exp(lambda1);
        double alphaNext = next * Math.exp(lambdaNext);
        NDArray x1 = mul(x, stage / sigma * Math.exp(-r * h * eta)).sub(mul(x0, alpha1 * Math.expm1(-r * hEta)));
        NDArray z1 = null;
        if (eta > 0) {
            z1 = mul(s.noise(), Math.sqrt(-Math.expm1(-2 * r * h * eta)));
            x1 = x1.add(mul(z1, stage));
        }
        NDArray x01 = s.denoiseAt(x1, stage);
        NDArray moved = mul(x, next / sigma * Math.exp(-h * eta));
        if (phi2) {
            double b2 = (Math.expm1(-hEta) + hEta) / -hEta / r;
            double b1 = Math.expm1(-hEta) - b2;
            moved = moved.sub(mul(x0, alphaNext * b1)).sub(mul(x01, alphaNext * b2));
        } else {
            NDArray mixed = x0.add(mul(x01.sub(x0), 1 / (2 * r)));
            moved = moved.sub(mul(mixed, alphaNext * Math.expm1(-hEta)));
        }
        if (eta > 0) {
            double segment = (r - 1) * h * eta;
            NDArray noise = mul(z1, Math.exp(segment)).add(mul(s.noise(), Math.sqrt(-Math.expm1(2 * segment))));
            moved = moved.add(mul(noise, next));
        }
        return moved;
    }
}
