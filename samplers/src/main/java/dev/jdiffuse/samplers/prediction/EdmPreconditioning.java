package dev.jdiffuse.samplers.prediction;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Karras et al. 2022, Table 1 / eq. 7: {@code D(x, sigma) = c_skip x + c_out F(c_in x, c_noise)} with
 * {@code c_in = 1/sqrt(sigma^2 + sd^2)}, {@code c_skip = sd^2 / (sigma^2 + sd^2)},
 * {@code c_out = sigma sd / sqrt(sigma^2 + sd^2)} (negated for diffusers' {@code v_prediction} variant) and
 * {@code c_noise = ln(sigma) / 4}, which the schedule supplies as the timestep (diffusers' {@code EDMEulerScheduler}
 * {@code precondition_inputs/outputs/noise}).
 *
 * @param sigmaData {@code sd}, the data standard deviation (0.5 in the paper)
 * @param vPrediction whether {@code c_out} is negated (diffusers' {@code prediction_type="v_prediction"})
 */
public record EdmPreconditioning(double sigmaData, boolean vPrediction) {

    public Denoiser wrap(Network network) {
        return (x, level, cond) -> {
            double sigma = level.sigma();
            double sd2 = sigmaData * sigmaData;
            double norm = sigma * sigma + sd2;
            double cIn = 1 / Math.sqrt(norm);
            double cSkip = sd2 / norm;
            double cOut = (vPrediction ? -1 : 1) * sigma * sigmaData / Math.sqrt(norm);
            NDArray f = network.forward(mul(x, cIn), level.timestep(), cond);
            return mul(x, cSkip).add(mul(f, cOut));
        };
    }
}
