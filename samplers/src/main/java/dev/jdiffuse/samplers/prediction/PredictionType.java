package dev.jdiffuse.samplers.prediction;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * What a network predicts, and the adapter that turns it into the denoiser {@code D(x, sigma)} samplers use (Karras et
 * et al. 2022, eq. 7 and Table 1). Diffusion models are in the variance-exploding state {@code x = x0 + sigma eps}
 * (network input {@code x / sqrt(sigma^2 + 1)}, the variance-preserving sample); flow models in
 * {@code x = (1 - sigma) x0 + sigma eps} (input unscaled).
 */
public enum PredictionType {
    /** Ho et al. 2020: the network predicts {@code eps}; {@code x0 = x - sigma eps}. */
    EPSILON,
    /**
     * Salimans and Ho 2022 ("Progressive Distillation", Sec. 4): {@code v = alpha eps - sigma_vp x0}; with
     * {@code alpha = 1/sqrt(sigma^2+1)}: {@code x0 = x / (sigma^2 + 1) - v sigma / sqrt(sigma^2 + 1)}.
     */
    V_PREDICTION,
    /** The network predicts {@code x0} directly. */
    SAMPLE,
    /**
     * Rectified flow (Liu et al. 2022; Esser et al. 2024): the network predicts the velocity {@code v = eps - x0} of
     * {@code x = (1 - sigma) x0 + sigma eps}; {@code x0 = x - sigma v}. Input unscaled.
     */
    FLOW_VELOCITY;

    /** diffusers' {@code prediction_type} names ({@code flow_prediction} for flow velocity). */
    public static PredictionType parse(String name) {
        return switch (name) {
            case "epsilon" -> EPSILON;
            case "v_prediction" -> V_PREDICTION;
            case "sample" -> SAMPLE;
            case "flow_prediction", "flow" -> FLOW_VELOCITY;
            default -> throw new IllegalArgumentException("unsupported prediction_type " + name);
        };
    }

    /**
     * The denoiser a model's scheduler config implies for {@code network}: EDM's preconditioning
     * ({@link EdmPreconditioning}, with the config's {@code sigma_data} and {@code prediction_type}) for an EDM
     * scheduler (diffusers' {@code EDMEulerScheduler} and {@code EDMDPMSolverMultistepScheduler}, e.g. Playground
     * v2.5), else the {@code prediction_type}'s adapter.
     */
    public static Denoiser adapt(SchedulerConfig config, Network network) {
        if (config.schedulerClass() == SchedulerClass.EDM_EULER) {
            String type = config.predictionType();
            if (!type.equals("epsilon") && !type.equals("v_prediction")) {
                throw new IllegalArgumentException("unsupported prediction_type " + type + " for an EDM scheduler");
            }
            return new EdmPreconditioning(config.sigmaData(), type.equals("v_prediction")).wrap(network);
        }
        return parse(config.predictionType()).wrap(network);
    }

    /** The denoiser of {@code network}: scales the input, calls it with the level's timestep, maps the output to x0. */
    public Denoiser wrap(Network network) {
        return (x, level, cond) -> {
            double sigma = level.sigma();
            if (this == FLOW_VELOCITY) {
                NDArray v = network.forward(x, level.timestep(), cond);
                return x.sub(mul(v, sigma));
            }
            double scale = 1 / Math.sqrt(sigma * sigma + 1);
            NDArray out = network.forward(mul(x, scale), level.timestep(), cond);
            return switch (this) {
                case EPSILON -> x.sub(mul(out, sigma));
                case V_PREDICTION -> mul(x, scale * scale).sub(mul(out, sigma * scale));
                case SAMPLE -> out;
                default -> throw new AssertionError(this);
            };
        };
    }
}
