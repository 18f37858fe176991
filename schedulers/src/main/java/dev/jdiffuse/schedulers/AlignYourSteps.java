package dev.jdiffuse.schedulers;

/**
 * Align Your Steps (Sabour, Fidler and Kreis 2024, "Align Your Steps: Optimizing Sampling Schedules in Diffusion
 * Models"): the 10-step noise levels optimised for Stable Diffusion 1.5 and SDXL, as NVIDIA's how-to page publishes
 * them and A1111 ships them, and A1111's log-linear resampling to other step counts.
 */
public final class AlignYourSteps {

    private static final double[] SD15 = {14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029};
    private static final double[] SDXL = {14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.380, 0.234, 0.113, 0.029};

    private AlignYourSteps() {
    }

    /** Stable Diffusion 1.5's 11 levels (A1111 uses them for every non-XL model). */
    public static double[] sd15() {
        return SD15.clone();
    }

    /** SDXL's 11 levels. */
    public static double[] sdxl() {
        return SDXL.clone();
    }

    /**
     * {@code n} levels from {@code base}: {@code base} itself when it has {@code n}, else {@code log sigma} linearly
     * interpolated at {@code n} evenly spaced positions along it (A1111's {@code _loglinear_interp}); from the first
     * level to the last either way.
     */
    public static double[] levels(int n, double[] base) {
        if (n == base.length) {
            return base.clone();
        }
        double[] s = new double[n];
        int last = base.length - 1;
        for (int i = 0; i < n; i++) {
            double x = n == 1 ? 0 : (double) i * last / (n - 1);
            int lo = Math.min((int) Math.floor(x), last - 1);
            double w = x - lo;
            s[i] = Math.exp((1 - w) * Math.log(base[lo]) + w * Math.log(base[lo + 1]));
        }
        return s;
    }

    /** The spacing; a model without published levels refuses it ({@link UnsupportedOperationException}). */
    public static SigmaSpacing spacing() {
        return (n, model) -> {
            if (model.alignYourSteps() == null) {
                throw new UnsupportedOperationException("Align Your Steps has published levels for Stable Diffusion "
                        + "1.x/2.x and SDXL only");
            }
            return levels(n, model.alignYourSteps());
        };
    }
}
