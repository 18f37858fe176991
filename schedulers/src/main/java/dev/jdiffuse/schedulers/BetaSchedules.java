package dev.jdiffuse.schedulers;

/**
 * Discrete-time diffusion noise schedules (Ho et al. 2020, "Denoising Diffusion Probabilistic Models"): the per-step
 * variances {@code beta_t}, {@code t = 0 .. T-1}, and their cumulative products {@code abar_t = prod (1 - beta_s)}.
 * Values follow diffusers' definitions, computed in double precision.
 */
public final class BetaSchedules {

    private BetaSchedules() {
    }

    /** {@code beta_t} evenly spaced from {@code start} to {@code end} (Ho et al. 2020, Sec. 4). */
    public static double[] linear(int t, double start, double end) {
        return linspace(start, end, t);
    }

    /** Stable Diffusion's schedule: {@code sqrt(beta_t)} evenly spaced from {@code sqrt(start)} to {@code sqrt(end)}. */
    public static double[] scaledLinear(int t, double start, double end) {
        double[] b = linspace(Math.sqrt(start), Math.sqrt(end), t);
        for (int i = 0; i < t; i++) {
            b[i] *= b[i];
        }
        return b;
    }

    /**
     * The cosine schedule of Nichol and Dhariwal 2021 ("Improved Denoising Diffusion Probabilistic Models", eq. 17):
     * {@code abar(t) = cos^2((t + 0.008) / 1.008 * pi / 2)}, {@code beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999)}.
     */
    public static double[] squaredcosCapV2(int t) {
        double[] b = new double[t];
        for (int i = 0; i < t; i++) {
            double t1 = (double) i / t;
            double t2 = (double) (i + 1) / t;
            b[i] = Math.min(1 - cosineAlphaBar(t2) / cosineAlphaBar(t1), 0.999);
        }
        return b;
    }

    /**
     * Rescales betas to zero terminal SNR: Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
     * Flawed", Algorithm 1 ({@code sqrt(abar)} shifted so its last value is 0 and scaled so its first is unchanged).
     * The last {@code abar} becomes exactly 0.
     */
    public static double[] rescaleZeroSnr(double[] betas) {
        double[] abar = alphasCumprod(betas);
        int n = abar.length;
        double[] sqrt = new double[n];
        for (int i = 0; i < n; i++) {
            sqrt[i] = Math.sqrt(abar[i]);
        }
        double first = sqrt[0];
        double last = sqrt[n - 1];
        double scale = first / (first - last);
        double[] out = new double[n];
        double prev = 0;
        for (int i = 0; i < n; i++) {
            double s = (sqrt[i] - last) * scale;
            double a = s * s;
            out[i] = i == 0 ? 1 - a : 1 - a / prev;
            prev = a;
        }
        return out;
    }

    /** {@code abar_t = prod_{s <= t} (1 - beta_s)}. */
    public static double[] alphasCumprod(double[] betas) {
        double[] a = new double[betas.length];
        double p = 1;
        for (int i = 0; i < betas.length; i++) {
            p *= 1 - betas[i];
            a[i] = p;
        }
        return a;
    }

    /** The betas a config describes ({@code trained_betas}, else {@code beta_schedule}), zero-SNR rescaled if asked. */
    public static double[] betas(SchedulerConfig c) {
        int t = c.numTrainTimesteps();
        double[] b;
        if (c.trainedBetas() != null) {
            b = c.trainedBetas().clone();
        } else {
            b = switch (c.betaSchedule()) {
                case "linear" -> linear(t, c.betaStart(), c.betaEnd());
                case "scaled_linear" -> scaledLinear(t, c.betaStart(), c.betaEnd());
                case "squaredcos_cap_v2" -> squaredcosCapV2(t);
                default -> throw new IllegalArgumentException("unsupported beta_schedule " + c.betaSchedule());
            };
        }
        return c.rescaleBetasZeroSnr() ? rescaleZeroSnr(b) : b;
    }

    /** {@code alphas_cumprod} of a config, as the diffusers scheduler stores it after construction. */
    public static double[] alphasCumprod(SchedulerConfig c) {
        return alphasCumprod(betas(c));
    }

    static double[] linspace(double start, double end, int n) {
        double[] v = new double[n];
        if (n == 1) {
            v[0] = start;
            return v;
        }
        double step = (end - start) / (n - 1);
        for (int i = 0; i < n; i++) {
            v[i] = i < n / 2 ? start + i * step : end - (n - 1 - i) * step;
        }
        return v;
    }

    private static double cosineAlphaBar(double t) {
        double c = Math.cos((t + 0.008) / 1.008 * Math.PI / 2);
        return c * c;
    }
}
