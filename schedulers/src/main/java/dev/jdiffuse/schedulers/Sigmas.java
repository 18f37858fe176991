package dev.jdiffuse.schedulers;

/**
 * Noise levels in the variance-exploding convention {@code x = x0 + sigma * eps} (Karras et al. 2022, "Elucidating
 * the Design Space of Diffusion-Based Generative Models", Sec. 2), and the rectified-flow levels of Esser et al. 2024
 * ("Scaling Rectified Flow Transformers for High-Resolution Image Synthesis").
 */
public final class Sigmas {

    /**
     * Stand-in for the infinite sigma of a zero-terminal-SNR timestep ({@code abar = 0}) in schedulers that step in
     * variance-preserving space (DDPM, DDIM, LCM). At this level {@code sqrt(abar) = 1e-8}, so the variance-exploding
     * sample {@code x = x_vp * sqrt(1 + sigma^2)} reproduces diffusers' {@code abar = 0} step to ~1e-8 relative while
     * staying finite in float32.
     */
    public static final double ZERO_SNR_SIGMA = 1e8;

    private Sigmas() {
    }

    /**
     * {@code sigma_t = sqrt((1 - abar_t) / abar_t)} for every training timestep (ascending in t), with
     * {@link #ZERO_SNR_SIGMA} where {@code abar_t = 0}.
     */
    public static double[] fromAlphasCumprod(double[] alphasCumprod) {
        double[] s = new double[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            double a = alphasCumprod[i];
            s[i] = a <= 0 ? ZERO_SNR_SIGMA : Math.sqrt((1 - a) / a);
        }
        return s;
    }

    /** numpy's {@code interp(x, arange(len(table)), table)}: piecewise-linear in the (fractional) timestep. */
    public static double[] interp(double[] timesteps, double[] table) {
        double[] out = new double[timesteps.length];
        for (int i = 0; i < out.length; i++) {
            double t = timesteps[i];
            if (t <= 0) {
                out[i] = table[0];
            } else if (t >= table.length - 1) {
                out[i] = table[table.length - 1];
            } else {
                int lo = (int) Math.floor(t);
                double w = t - lo;
                out[i] = table[lo] + w * (table[lo + 1] - table[lo]);
            }
        }
        return out;
    }

    /**
     * Karras et al. 2022, eq. 5: {@code sigma_i = (sigmaMax^(1/rho) + i/(n-1) (sigmaMin^(1/rho) - sigmaMax^(1/rho)))^rho},
     * {@code i = 0 .. n-1} (from {@code sigmaMax} down to {@code sigmaMin}).
     */
    public static double[] karras(int n, double sigmaMin, double sigmaMax, double rho) {
        double[] ramp = BetaSchedules.linspace(0, 1, n);
        double minInv = Math.pow(sigmaMin, 1 / rho);
        double maxInv = Math.pow(sigmaMax, 1 / rho);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = Math.pow(maxInv + ramp[i] * (minInv - maxInv), rho);
        }
        return s;
    }

    /** {@code n} levels evenly spaced in {@code log sigma} from {@code sigmaMax} down to {@code sigmaMin}. */
    public static double[] exponential(int n, double sigmaMin, double sigmaMax) {
        double[] l = BetaSchedules.linspace(Math.log(sigmaMax), Math.log(sigmaMin), n);
        for (int i = 0; i < n; i++) {
            l[i] = Math.exp(l[i]);
        }
        return l;
    }

    /**
     * Beta-distribution spacing (Lee et al. 2024, "Beta Sampling is All You Need", as diffusers' {@code _convert_to_beta}
     * and A1111's "Beta" schedule): {@code sigma_i = sigmaMin + ppf(1 - i/(n-1); 0.6, 0.6) (sigmaMax - sigmaMin)},
     * {@code i = 0 .. n-1}, where {@code ppf} is the Beta(0.6, 0.6) quantile: steps crowd at both ends of the range.
     */
    public static double[] beta(int n, double sigmaMin, double sigmaMax) {
        return beta(n, sigmaMin, sigmaMax, 0.6, 0.6);
    }

    /** {@link #beta(int, double, double)} with the distribution's {@code alpha} and {@code beta}. */
    public static double[] beta(int n, double sigmaMin, double sigmaMax, double alpha, double beta) {
        // commons-math's quantile is solved to 1e-9 by default; scipy's ppf is exact to ~1e-15, so tighten it
        var distribution = new org.apache.commons.math3.distribution.BetaDistribution(null, alpha, beta, 1e-15);
        double[] ramp = BetaSchedules.linspace(0, 1, n);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            double q = 1 - ramp[i];
            double ppf = q <= 0 ? 0 : q >= 1 ? 1 : distribution.inverseCumulativeProbability(q);
            s[i] = sigmaMin + ppf * (sigmaMax - sigmaMin);
        }
        return s;
    }

    /**
     * The fractional training timestep of {@code sigma}: linear interpolation of {@code log sigma} between the two
     * neighbouring entries of {@code logSigmas} (ascending in t), clamped to the table (diffusers' {@code _sigma_to_t}).
     */
    public static double sigmaToTimestep(double sigma, double[] logSigmas) {
        double logSigma = Math.log(Math.max(sigma, 1e-10));
        int low = 0;
        for (int i = 0; i < logSigmas.length; i++) {
            if (logSigma - logSigmas[i] >= 0) {
                low = i;
            }
        }
        low = Math.min(low, logSigmas.length - 2);
        double lo = logSigmas[low];
        double hi = logSigmas[low + 1];
        double w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
        return (1 - w) * low + w * (low + 1);
    }

    /** Esser et al. 2024, eq. 23: the resolution shift {@code shift * s / (1 + (shift - 1) s)} of a flow level. */
    public static double shiftFlow(double shift, double s) {
        return shift * s / (1 + (shift - 1) * s);
    }

    /** The exponential time shift of dynamic shifting: {@code e^mu / (e^mu + (1/s - 1))}, i.e. shift {@code e^mu}. */
    public static double timeShiftExponential(double mu, double s) {
        double e = Math.exp(mu);
        return e / (e + (1 / s - 1));
    }
}
