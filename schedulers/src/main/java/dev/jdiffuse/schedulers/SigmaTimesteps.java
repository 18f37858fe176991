package dev.jdiffuse.schedulers;

/**
 * The network timestep that conditions a denoiser at an arbitrary noise level, for samplers that evaluate between
 * the scheduled levels (DPM2's midpoint {@code sqrt(sigma_i sigma_{i+1})}, the DPM++ single-step and SDE stages).
 * Each form is the one diffusers or k-diffusion uses for its model type.
 */
@FunctionalInterface
public interface SigmaTimesteps {

    /** The timestep of noise level {@code sigma}. */
    double timestepOf(double sigma);

    /**
     * Discrete-time diffusion: linear interpolation of {@code log sigma} in the training levels (diffusers'
     * {@code _sigma_to_t}, k-diffusion's {@code DiscreteSchedule.sigma_to_t}); fractional timesteps, as KDPM2 feeds them.
     *
     * @param trainingSigmas the sigma of every training timestep, ascending in t (read once: their logs are kept)
     */
    static SigmaTimesteps discrete(double[] trainingSigmas) {
        return new Discrete(DiffusersFloat32.logs(trainingSigmas));
    }

    /** Rectified flow: {@code t = T sigma} ({@code T} training timesteps, 1000 for SD 3 and FLUX). */
    static SigmaTimesteps flow(int trainTimesteps) {
        return new Flow(trainTimesteps);
    }

    /** EDM: {@code c_noise = ln(sigma) / 4} (Karras et al. 2022, Table 1). */
    static SigmaTimesteps edm() {
        return new Edm();
    }

    /** See {@link #discrete}. */
    record Discrete(double[] logSigmas) implements SigmaTimesteps {
        @Override
        public double timestepOf(double sigma) {
            return Sigmas.sigmaToTimestep(sigma, logSigmas);
        }
    }

    /** See {@link #flow}. */
    record Flow(int trainTimesteps) implements SigmaTimesteps {
        @Override
        public double timestepOf(double sigma) {
            return sigma * trainTimesteps;
        }
    }

    /** See {@link #edm}. */
    record Edm() implements SigmaTimesteps {
        @Override
        public double timestepOf(double sigma) {
            return 0.25 * Math.log(sigma);
        }
    }
}
