package dev.jdiffuse.schedulers;

/**
 * The training-timestep tables exactly as diffusers builds them in float32 torch tensors ({@code betas},
 * {@code alphas_cumprod}, and the sigma table {@code sqrt((1 - abar)/abar)} it interpolates). Rounding matters here:
 * near {@code t = 0} the sigma comes from {@code 1 - abar ~ 1e-3}, where float32 cancellation changes it by ~2e-5
 * relative, so schedules that interpolate or clamp at the low end (Karras sigma_min, {@code final_sigmas_type}) only
 * reproduce diffusers to 1e-5 from the float32 table. Values are float32 numbers held in doubles; everything
 * downstream is double.
 */
final class DiffusersFloat32 {

    private DiffusersFloat32() {
    }

    /** {@code alphas_cumprod}: float32 betas, {@code torch.cumprod} (double accumulator, float32 results). */
    static double[] alphasCumprod(SchedulerConfig c) {
        float[] betas = betas(c);
        if (c.rescaleBetasZeroSnr()) {
            betas = rescaleZeroSnr(betas);
        }
        float[] alphas = new float[betas.length];
        for (int i = 0; i < betas.length; i++) {
            alphas[i] = 1f - betas[i];
        }
        float[] abar = cumprod(alphas);
        double[] out = new double[abar.length];
        for (int i = 0; i < abar.length; i++) {
            out[i] = abar[i];
        }
        return out;
    }

    /** {@code ((1 - abar) / abar) ** 0.5} in float32 ({@link Sigmas#ZERO_SNR_SIGMA} where {@code abar = 0}). */
    static double[] sigmas(double[] alphasCumprod) {
        double[] s = new double[alphasCumprod.length];
        for (int i = 0; i < s.length; i++) {
            float a = (float) alphasCumprod[i];
            s[i] = a <= 0 ? Sigmas.ZERO_SNR_SIGMA : (float) Math.sqrt((1f - a) / a);
        }
        return s;
    }

    /** numpy's {@code log} of the float32 sigma table (a float32 result). */
    static double[] logs(double[] sigmas) {
        double[] l = new double[sigmas.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = (float) Math.log(sigmas[i]);
        }
        return l;
    }

    private static float[] betas(SchedulerConfig c) {
        int t = c.numTrainTimesteps();
        float[] b = new float[t];
        if (c.trainedBetas() != null) {
            for (int i = 0; i < t; i++) {
                b[i] = (float) c.trainedBetas()[i];
            }
            return b;
        }
        switch (c.betaSchedule()) {
            case "linear" -> b = linspace((float) c.betaStart(), (float) c.betaEnd(), t);
            case "scaled_linear" -> {
                b = linspace((float) Math.sqrt(c.betaStart()), (float) Math.sqrt(c.betaEnd()), t);
                for (int i = 0; i < t; i++) {
                    b[i] = b[i] * b[i];
                }
            }
            case "squaredcos_cap_v2" -> {
                double[] d = BetaSchedules.squaredcosCapV2(t);
                for (int i = 0; i < t; i++) {
                    b[i] = (float) d[i];
                }
            }
            default -> throw new IllegalArgumentException("unsupported beta_schedule " + c.betaSchedule());
        }
        return b;
    }

    /** {@code torch.linspace(start, end, n, dtype=float32)} on the CPU (float arithmetic, symmetric halves). */
    private static float[] linspace(float start, float end, int n) {
        float[] v = new float[n];
        if (n == 1) {
            v[0] = start;
            return v;
        }
        float step = (end - start) / (n - 1);
        for (int i = 0; i < n; i++) {
            v[i] = i < n / 2 ? start + step * i : end - step * (n - i - 1);
        }
        return v;
    }

    private static float[] cumprod(float[] v) {
        float[] out = new float[v.length];
        double acc = 1;
        for (int i = 0; i < v.length; i++) {
            acc *= v[i];
            out[i] = (float) acc;
        }
        return out;
    }

    /** diffusers' {@code rescale_zero_terminal_snr} in float32 (see {@link BetaSchedules#rescaleZeroSnr}). */
    private static float[] rescaleZeroSnr(float[] betas) {
        int n = betas.length;
        float[] alphas = new float[n];
        for (int i = 0; i < n; i++) {
            alphas[i] = 1f - betas[i];
        }
        float[] abar = cumprod(alphas);
        float[] sqrt = new float[n];
        for (int i = 0; i < n; i++) {
            sqrt[i] = (float) Math.sqrt(abar[i]);
        }
        float first = sqrt[0];
        float last = sqrt[n - 1];
        float scale = first / (first - last);
        float[] out = new float[n];
        float prev = 0;
        for (int i = 0; i < n; i++) {
            float s = (sqrt[i] - last) * scale;
            float a = s * s;
            out[i] = i == 0 ? 1f - a : 1f - a / prev;
            prev = a;
        }
        return out;
    }
}
