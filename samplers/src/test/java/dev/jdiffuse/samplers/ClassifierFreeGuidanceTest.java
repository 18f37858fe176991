package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.schedulers.SamplingSchedule;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class ClassifierFreeGuidanceTest {

    /** A conditioning that is one scalar per row; the fake denoiser returns {@code x * value}. */
    private record Scalars(float[] values) implements Conditioning {
        @Override
        public Conditioning concatBatch(Conditioning other) {
            float[] o = ((Scalars) other).values;
            float[] v = java.util.Arrays.copyOf(values, values.length + o.length);
            System.arraycopy(o, 0, v, values.length, o.length);
            return new Scalars(v);
        }

        @Override
        public int batchSize() {
            return values.length;
        }
    }

    private final List<Long> batchSizes = new ArrayList<>();

    private final Denoiser inner = (x, level, cond) -> {
        batchSizes.add(x.getShape().get(0));
        float[] v = ((Scalars) cond).values;
        return x.mul(x.getManager().create(v, new Shape(v.length, 1)));
    };

    private static final Scalars UNCOND = new Scalars(new float[] {0.5f});
    private static final Scalars COND = new Scalars(new float[] {2.0f});
    private static final NoiseLevel LEVEL = new NoiseLevel(2.0, 500, 0, 1);

    @Test
    void scaleOneIsTheConditionalBranchAlone() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1, -2, 3, 4}, new Shape(1, 4));
            NDArray out = new ClassifierFreeGuidance(inner, UNCOND, 1.0, 0.0).denoise(x, LEVEL, COND);
            assertArrayEquals(new float[] {2, -4, 6, 8}, out.toFloatArray(), 1e-6f);
            assertEquals(List.of(1L), batchSizes);
        }
    }

    /** CFG++ samplers need the unconditional half at every scale: at 1 too it comes from the one batched call. */
    @Test
    void bothHalvesComeFromOneBatchedCallAtEveryScale() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1, -2, 3, 4}, new Shape(1, 4));
            for (double scale : new double[] {0.6, 1.0, 2.0}) {
                batchSizes.clear();
                Denoiser.Guided g = new ClassifierFreeGuidance(inner, UNCOND, scale, 0.0).denoiseGuided(x, LEVEL, COND);
                float k = (float) (0.5 + scale * (2.0 - 0.5));
                assertArrayEquals(new float[] {k, -2 * k, 3 * k, 4 * k}, g.guided().toFloatArray(), 1e-5f);
                assertArrayEquals(new float[] {0.5f, -1, 1.5f, 2}, g.unconditional().toFloatArray(), 1e-6f);
                assertEquals(List.of(2L), batchSizes, "scale " + scale);
            }
            // a denoiser without guidance gives its prediction as both
            Denoiser.Guided plain = inner.denoiseGuided(x, LEVEL, COND);
            assertArrayEquals(plain.guided().toFloatArray(), plain.unconditional().toFloatArray());
        }
    }

    @Test
    void guidanceIsOneBatchedCallPerStep() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1, -2, 3, 4}, new Shape(1, 4));
            Denoiser cfg = new ClassifierFreeGuidance(inner, UNCOND, 7.5, 0.0);
            NDArray out = cfg.denoise(x, LEVEL, COND);
            float k = 0.5f + 7.5f * (2.0f - 0.5f);
            assertArrayEquals(new float[] {k, -2 * k, 3 * k, 4 * k}, out.toFloatArray(), 1e-5f);
            assertEquals(List.of(2L), batchSizes);

            batchSizes.clear();
            SamplingSchedule schedule = new SamplingSchedule(new double[] {3, 2, 1, 0.5, 0.2, 0},
                    new double[] {5, 4, 3, 2, 1}, 3);
            Sampler euler = SamplerCatalog.sampler("euler").orElseThrow().create(SamplerOptions.DEFAULTS);
            euler.sample(cfg, x, schedule, COND, (mm, s) -> mm.randomNormal(s), StepListener.NONE);
            assertEquals(List.of(2L, 2L, 2L, 2L, 2L), batchSizes);
        }
    }

    /**
     * diffusers' {@code rescale_noise_cfg} on a 4-D latent batch, computed here in double precision:
     * {@code g' = phi g std(c)/std(g) + (1 - phi) g} per sample, std unbiased over dims 1..3, on the noise
     * prediction {@code (x - D)/sigma}. The inner denoiser is affine per row ({@code x v + v^2}), so the
     * conditional and guided predictions have different spreads and the factor is not 1.
     */
    @Test
    void rescaleMatchesDiffusersFormulaOnLatentBatches() {
        Denoiser affine = (x, level, cond) -> {
            float[] v = ((Scalars) cond).values;
            NDArray col = x.getManager().create(v, new Shape(v.length, 1, 1, 1));
            return x.mul(col).add(col.mul(col));
        };
        Scalars uncond = new Scalars(new float[] {0.5f, 0.8f});
        Scalars cond = new Scalars(new float[] {2.0f, 1.5f});
        double w = 6.0;
        double phi = 0.7;
        double sigma = LEVEL.sigma();
        try (NDManager m = NDManager.newBaseManager()) {
            m.getEngine().setRandomSeed(3);
            NDArray x = m.randomNormal(new Shape(2, 4, 8, 8));
            float[] out = new ClassifierFreeGuidance(affine, uncond, w, phi).denoise(x, LEVEL, cond).toFloatArray();
            float[] xs = x.toFloatArray();
            int per = 4 * 8 * 8;
            for (int b = 0; b < 2; b++) {
                double u = uncond.values[b];
                double c = cond.values[b];
                double[] epsG = new double[per];
                double[] epsC = new double[per];
                for (int i = 0; i < per; i++) {
                    double xi = xs[b * per + i];
                    double du = xi * u + u * u;
                    double dc = xi * c + c * c;
                    epsG[i] = (xi - (du + w * (dc - du))) / sigma;
                    epsC[i] = (xi - dc) / sigma;
                }
                double factor = std(epsC) / std(epsG);
                for (int i = 0; i < per; i++) {
                    double expected = xs[b * per + i] - epsG[i] * (phi * factor + 1 - phi) * sigma;
                    assertEquals(expected, out[b * per + i], 1e-5 * Math.max(1, Math.abs(expected)),
                            "row " + b + " element " + i);
                }
            }
        }
    }

    @Test
    void rescaleZeroIsPlainGuidance() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {1, -2, 3, 4}, new Shape(1, 4));
            NDArray plain = new ClassifierFreeGuidance(inner, UNCOND, 5.0, 0.0).denoise(x, LEVEL, COND);
            NDArray zero = new ClassifierFreeGuidance(inner, UNCOND, 5.0, 1e-300).denoise(x, LEVEL, COND);
            assertArrayEquals(plain.toFloatArray(), zero.toFloatArray(), 1e-5f);
        }
    }

    @Test
    void rescaleMatchesHandComputedExample() {
        double[] x = {1, -2, 3, 4};
        double sigma = LEVEL.sigma();
        double w = 5.0;
        double phi = 0.7;
        double[] epsC = new double[4];
        double[] epsG = new double[4];
        for (int i = 0; i < 4; i++) {
            double dU = x[i] * 0.5;
            double dC = x[i] * 2.0;
            epsC[i] = (x[i] - dC) / sigma;
            epsG[i] = (x[i] - (dU + w * (dC - dU))) / sigma;
        }
        double factor = phi * std(epsC) / std(epsG) + (1 - phi);
        float[] expected = new float[4];
        for (int i = 0; i < 4; i++) {
            expected[i] = (float) (x[i] - sigma * epsG[i] * factor);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray xs = m.create(new float[] {1, -2, 3, 4}, new Shape(1, 4));
            NDArray out = new ClassifierFreeGuidance(inner, UNCOND, w, phi).denoise(xs, LEVEL, COND);
            assertArrayEquals(expected, out.toFloatArray(), 1e-5f);
        }
    }

    /** Unbiased sample standard deviation, as torch.std. */
    private static double std(double[] v) {
        double mean = 0;
        for (double a : v) {
            mean += a / v.length;
        }
        double ss = 0;
        for (double a : v) {
            ss += (a - mean) * (a - mean);
        }
        return Math.sqrt(ss / (v.length - 1));
    }
}
