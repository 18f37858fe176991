package dev.jdiffuse.schedulers;

/**
 * A spacing of {@code n} noise levels over a model's trained levels, as the k-diffusion family of UIs (A1111, ComfyUI)
 * defines schedules (the terminal 0 is appended by {@link DiffusersSchedules#spaced}). Pure double-precision functions.
 */
@FunctionalInterface
public interface SigmaSpacing {

    /**
     * {@code n} decreasing levels for the model.
     *
     * @throws IllegalArgumentException when the spacing cannot give {@code n} distinct levels
     * @throws UnsupportedOperationException when the spacing has no levels for this model
     */
    double[] levels(int n, ModelSigmas model);

    /** {@link #klOptimal(int, double, double)} over the trained range. */
    static SigmaSpacing klOptimal() {
        return (n, m) -> klOptimal(n, m.min(), m.max());
    }

    /** {@link #polyexponential(int, double, double, double)} over the trained range. */
    static SigmaSpacing polyexponential(double rho) {
        return (n, m) -> polyexponential(n, m.min(), m.max(), rho);
    }

    /**
     * AUTOMATIC1111's "Beta" schedule ({@code beta_scheduler} in its {@code sd_schedulers.py}): the Beta(alpha, beta)
     * quantiles taken in sigma space over the trained range, {@link Sigmas#beta(int, double, double, double, double)};
     * diffusers' {@code use_beta_sigmas} is the same formula over its spaced schedule's first and last level (equal
     * where that schedule spans the trained range, as {@code linspace} and {@code trailing} do).
     */
    static SigmaSpacing betaSigmas(double alpha, double beta) {
        return (n, m) -> Sigmas.beta(n, m.min(), m.max(), alpha, beta);
    }

    /**
     * The "Beta" schedule of ComfyUI and Forge ({@code beta_scheduler}, after Lee et al. 2024, "Beta Sampling is All
     * You Need"): training timesteps at the Beta(alpha, beta) quantiles {@code t_i = rint(ppf(1 - i/n) (T - 1))},
     * {@code i = 0 .. n-1}, and their trained sigmas; so the steps crowd at both ends of the timestep range (the
     * first at {@code T - 1}, the last short of 0). Where two quantiles round to one timestep ComfyUI drops the
     * repeat and runs fewer steps; here that is refused (it first happens at 139 steps of 1000 timesteps).
     */
    static SigmaSpacing betaTimesteps(double alpha, double beta) {
        return (n, model) -> {
            double[] trained = model.trained();
            var distribution = new org.apache.commons.math3.distribution.BetaDistribution(null, alpha, beta, 1e-15);
            int last = trained.length - 1;
            double[] s = new double[n];
            int previous = -1;
            for (int i = 0; i < n; i++) {
                double q = 1 - (double) i / n;
                double ppf = q >= 1 ? 1 : distribution.inverseCumulativeProbability(q);
                int t = (int) Math.rint(ppf * last);
                if (t == previous) {
                    throw new IllegalArgumentException("the beta schedule puts two of " + n + " steps on training "
                            + "timestep " + t + " (of " + trained.length + "); use fewer steps or another schedule");
                }
                previous = t;
                s[i] = trained[t];
            }
            return s;
        };
    }

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
