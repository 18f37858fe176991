package dev.jdiffuse.schedulers;

/**
 * What a {@link SigmaSpacing} may read of a model: the sigma of every training timestep (ascending in t) and, for the
 * model families NVIDIA published them for, the Align Your Steps levels ({@link AlignYourSteps}; null otherwise).
 * Arrays are read, never written.
 */
public record ModelSigmas(double[] trained, double[] alignYourSteps) {

    /** The smallest trained sigma (t = 0): k-diffusion's {@code sigma_min}. */
    public double min() {
        return trained[0];
    }

    /** The largest trained sigma (t = T - 1): k-diffusion's {@code sigma_max}. */
    public double max() {
        return trained[trained.length - 1];
    }
}
