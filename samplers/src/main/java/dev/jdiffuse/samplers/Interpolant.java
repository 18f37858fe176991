package dev.jdiffuse.samplers;

/**
 * How a sampler's state mixes data and noise at level {@code s}: {@code x = alpha(s) x0 + s eps}. Deterministic
 * samplers do not need to know it: the probability-flow ODE {@code dx/ds = (x - D(x, s))/s} has this form in both
 * states (for rectified flow {@code (x - x0)/s = eps - x0}, the velocity), so their update rules apply unchanged.
 * Samplers that add fresh noise or step in half log-SNR do: the noise they add must keep the state's marginal, which
 * depends on {@code alpha} (ComfyUI's {@code _RF} ancestral samplers and its {@code sigma_to_half_log_snr} SDE
 * samplers on {@code CONST} models).
 */
public enum Interpolant {

    /** {@code x = x0 + s eps}: diffusion models sampled in the variance-exploding state, and EDM models. */
    VARIANCE_EXPLODING {
        @Override
        public double alpha(double sigma) {
            return 1;
        }

        @Override
        public double noiseToSignal(double sigma) {
            return sigma;
        }

        @Override
        public double sigmaAt(double halfLogSnr) {
            return Math.exp(-halfLogSnr);
        }

        @Override
        public double midpoint(double sigma, double next) {
            return Math.sqrt(sigma * next);
        }
    },

    /** {@code x = (1 - s) x0 + s eps}: rectified flow (SD 3, FLUX). */
    RECTIFIED_FLOW {
        @Override
        public double alpha(double sigma) {
            return 1 - sigma;
        }

        /**
         * {@code s / (1 - s)}; pure noise ({@code s = 1}, where it is infinite) is taken at {@code s = 1 - 1e-4}.
         * ComfyUI's SDE samplers instead move a flow schedule's first level to the model's
         * {@code percent_to_sigma(1e-4)} ({@code offset_first_sigma_for_snr}: 0.99997 at SD 3's shift 3, about
         * {@code 1 - 1e-4 e^-mu} on FLUX) and evaluate the model there too, so their first steps from pure noise differ
         * slightly from these (on Gaussian data with SD 3's shift: at most 0.24 % of the state after the first step,
         * DPM++ SDE, and 2.4e-4 at the end; the offset level is the model's, which the sampler does not know).
         */
        @Override
        public double noiseToSignal(double sigma) {
            double s = Math.min(sigma, 1 - 1e-4);
            return s / (1 - s);
        }

        @Override
        public double sigmaAt(double halfLogSnr) {
            return 1 / (1 + Math.exp(halfLogSnr));
        }

        @Override
        public double midpoint(double sigma, double next) {
            return sigmaAt((halfLogSnr(sigma) + halfLogSnr(next)) / 2);
        }
    };

    /** The data's weight at level {@code sigma}. */
    public abstract double alpha(double sigma);

    /**
     * {@code s / alpha(s)}: the level of the equivalent variance-exploding state {@code x / alpha = x0 + (s/alpha) eps}
     * ({@code s} itself there).
     */
    public abstract double noiseToSignal(double sigma);

    /** {@code lambda = ln(alpha(s)/s)}, the half log signal-to-noise ratio (DPM-Solver's time variable). */
    public double halfLogSnr(double sigma) {
        return -Math.log(noiseToSignal(sigma));
    }

    /** The level whose {@link #halfLogSnr} is {@code halfLogSnr}. */
    public abstract double sigmaAt(double halfLogSnr);

    /** The level halfway between two in half log-SNR ({@code sqrt(s s')} in the variance-exploding state). */
    public abstract double midpoint(double sigma, double next);
}
