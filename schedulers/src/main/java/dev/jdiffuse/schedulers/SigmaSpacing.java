package dev.jdiffuse.schedulers;

/**
 * A spacing of {@code n} noise levels over a model's trained range, as the k-diffusion family of UIs (A1111, ComfyUI)
 * defines schedules: a function of the step count and the smallest and largest trained sigma only (the terminal 0 is
 * appended by {@link DiffusersSchedules#spaced}). Pure double-precision functions.
 */
@FunctionalInterface
public interface SigmaSpacing {

    /** {@code n} levels from (about) {@code sigmaMax} down to (about) {@code sigmaMin}, decreasing. */
    double[] levels(int n, double sigmaMin, double sigmaMax);

    /**
     * The KL-optimal schedule of Sabour et al. 2024 ("Align Your Steps", Sec. 3.3 / App. A), as ComfyUI's
     * {@code kl_optimal_scheduler}: levels evenly spaced in {@code arctan(sigma)},
     * {@code sigma_i = tan((1 - i/(n-1)) atan(sigmaMax) + i/(n-1) atan(sigmaMin))}, {@code i = 0 .. n-1}. (A1111's
     * version takes {@code n + 1} such levels and stops at {@code sigmaMin} without a final step to 0.)
     */
    static double[] klOptimal(int n, double sigmaMin, double sigmaMax) {
        double[] s = new double[n];
        double lo = Math.atan(sigmaMin);
        double hi = Math.atan(sigmaMax);
        for (int i = 0; i < n; i++) {
            double w = n == 1 ? 0 : (double) i / (n - 1);
            s[i] = Math.tan(w * lo + (1 - w) * hi);
        }
        return s;
    }

    /**
     * k-diffusion's {@code get_sigmas_polyexponential} (A1111's "Polyexponential", rho 1 by default):
     * {@code ln sigma_i = ln sigmaMin + (1 - i/(n-1))^rho (ln sigmaMax - ln sigmaMin)}; rho 1 is exponential spacing.
     */
    static double[] polyexponential(int n, double sigmaMin, double sigmaMax, double rho) {
        double[] ramp = BetaSchedules.linspace(1, 0, n);
        double[] s = new double[n];
        for (int i = 0; i < n; i++) {
            s[i] = Math.exp(Math.pow(ramp[i], rho) * (Math.log(sigmaMax) - Math.log(sigmaMin)) + Math.log(sigmaMin));
        }
        return s;
    }
}
