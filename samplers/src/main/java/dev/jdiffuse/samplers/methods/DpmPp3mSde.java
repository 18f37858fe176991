package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * SDE-DPM-Solver++(3M): k-diffusion's {@code sample_dpmpp_3m_sde} with {@code eta = 1} (A1111's "DPM++ 3M SDE"), the
 * third-order multistep counterpart of {@link DpmPp2mSde}. With {@code h = ln(s/s')}, the previous steps' {@code h1},
 * {@code h2}, {@code r0 = h1/h}, {@code r1 = h2/h} and {@code x0}, {@code x0_1}, {@code x0_2} the last three predictions:
 * <pre>
 *   x' = e^-2h x + (1 - e^-2h) x0 + phi2 D1 - phi3 D2 + s' sqrt(1 - e^-2h) z
 *   D1_0 = (x0 - x0_1)/r0,  D1_1 = (x0_1 - x0_2)/r1,  D1 = D1_0 + (D1_0 - D1_1) r0/(r0 + r1),  D2 = (D1_0 - D1_1)/(r0 + r1)
 *   phi2 = (e^-2h - 1)/(2h) + 1,   phi3 = phi2/(2h) - 1/2
 * </pre>
 * The first step is first order ({@code D1 = D2 = 0}), the second second order ({@code D1 = (x0 - x0_1)/r0},
 * {@code D2 = 0}); the last step (to 0) lands on {@code x0}. One fresh normal per step stands for the reference's
 * Brownian-tree increment over {@code [s', s]} (same law). diffusers' {@code DPMSolverMultistepScheduler} with
 * {@code solver_order=3} and {@code sde-dpmsolver++} uses {@code (1 - e^-2h - 2h)/(2h)^2 - 1/2} for the {@code D2}
 * weight, which is not k-diffusion's {@code -phi3}; the name "DPM++ 3M SDE" means k-diffusion's method. On rectified
 * flow (ComfyUI's form with {@code sigma_to_half_log_snr}) {@code h} is the step in half log-SNR
 * {@code ln(alpha/s)}, the sample's weight {@code (s'/s) e^-h} and the predictions' weights carry {@code alpha(s')}.
 *
 * @param path the state the model samples in
 */
public record DpmPp3mSde(Interpolant path) implements Sampler {

    /** In the variance-exploding state (diffusion models). */
    public DpmPp3mSde() {
        this(Interpolant.VARIANCE_EXPLODING);
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = s.denoise(x);
        NDArray x01 = s.previous("x0_1");
        if (next == 0) {
            return x0;
        }
        double v = path.noiseToSignal(sigma);
        double h = Math.log(v / path.noiseToSignal(next));
        double alpha = path.alpha(next);
        // (s'/s) e^-h: (s'/s)^2 in the variance-exploding state
        NDArray out = mul(x, next / sigma * Math.exp(-h)).add(mul(x0, -alpha * Math.expm1(-2 * h)));
        double phi2 = alpha * (Math.expm1(-2 * h) / (2 * h) + 1);
        int i = s.index();
        if (i >= 1) {
            double r0 = Math.log(path.noiseToSignal(s.sigmaAt(i - 1)) / v) / h;
            NDArray d10 = div(x0.sub(x01), r0);
            if (i >= 2) {
                double r1 = Math.log(path.noiseToSignal(s.sigmaAt(i - 2)) / path.noiseToSignal(s.sigmaAt(i - 1))) / h;
                NDArray d11 = div(x01.sub(s.previous("x0_2")), r1);
                NDArray diff = d10.sub(d11);
                NDArray d1 = d10.add(mul(diff, r0 / (r0 + r1)));
                NDArray d2 = div(diff, r0 + r1);
                double phi3 = alpha * ((Math.expm1(-2 * h) / (2 * h) + 1) / (2 * h) - 0.5);
                out = out.add(mul(d1, phi2)).sub(mul(d2, phi3));
            } else {
                out = out.add(mul(d10, phi2));
            }
        }
        s.remember("x0_1", x0);
        s.remember("x0_2", x01);
        return out.add(mul(s.noise(), next * Math.sqrt(-Math.expm1(-2 * h))));
    }
}
