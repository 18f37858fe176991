package dev.jdiffuse.models.prompt;

import dev.jdiffuse.models.nn.HostCopies;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * A1111's variation seeds ({@code modules/rng.py} {@code ImageRNG.first} and {@code slerp}): an image's initial
 * noise is {@code slerp(subseed_strength, randn(seed), randn(subseed))}, strength 0 giving the seed's noise and 1 the
 * subseed's.
 *
 * <p>A1111's {@code slerp(val, low, high)} is called on one image's noise of shape [C, H, W] and normalises along
 * {@code dim=1}: every (c, w) column of H values is one vector, with its own angle
 * {@code omega = acos(<low/|low|, high/|high|>)}, and
 * {@code res = sin((1 - val) omega) / sin(omega) * low + sin(val omega) / sin(omega) * high}. When the MEAN of the
 * column cosines exceeds 0.9995 it returns {@code low * val + high * (1 - val)} for the whole tensor (the weights
 * swapped relative to a lerp; reproduced as A1111 has it). Norms and cosines are accumulated in double, the result
 * rounded to float (torch works in float32; the difference is float rounding).
 */
public final class VariationNoise {

    /** A1111's threshold on the mean cosine above which it falls back to a linear blend. */
    static final double PARALLEL_THRESHOLD = 0.9995;

    private VariationNoise() {
    }

    /**
     * {@link #slerp(double, float[], float[], int[])} image by image over a batch: {@code low} and {@code high}
     * [B, C, H, W] (any float type; the result is float32 in {@code low}'s manager and device).
     */
    public static NDArray slerp(double val, NDArray low, NDArray high) {
        long[] s = low.getShape().getShape();
        if (s.length != 4 || !low.getShape().equals(high.getShape())) {
            throw new IllegalArgumentException("low and high must both be [B, C, H, W]: " + low.getShape() + ", "
                    + high.getShape());
        }
        int[] image = {(int) s[1], (int) s[2], (int) s[3]};
        int n = image[0] * image[1] * image[2];
        float[] a = low.toType(DataType.FLOAT32, false).toFloatArray();
        float[] b = high.toType(DataType.FLOAT32, false).toFloatArray();
        float[] out = new float[a.length];
        for (int i = 0; i < s[0]; i++) {
            float[] one = slerp(val, java.util.Arrays.copyOfRange(a, i * n, (i + 1) * n),
                    java.util.Arrays.copyOfRange(b, i * n, (i + 1) * n), image);
            System.arraycopy(one, 0, out, i * n, n);
        }
        return HostCopies.onDevice(low.getManager(), low.getDevice(), m -> m.create(out, low.getShape()));
    }

    /**
     * @param val the subseed strength, 0 -> {@code low}, 1 -> {@code high}
     * @param low the seed's noise, [C, H, W] row-major
     * @param high the subseed's noise, same shape
     * @param shape {C, H, W}
     * @return a new array of the same shape
     */
    public static float[] slerp(double val, float[] low, float[] high, int[] shape) {
        if (shape.length != 3) {
            throw new IllegalArgumentException("shape must be [C, H, W]: " + java.util.Arrays.toString(shape));
        }
        int c = shape[0];
        int h = shape[1];
        int w = shape[2];
        if (low.length != high.length || low.length != c * h * w) {
            throw new IllegalArgumentException("low, high and shape disagree: " + low.length + ", " + high.length
                    + ", " + c * h * w);
        }
        double[] cos = new double[c * w];
        double meanCos = 0;
        for (int ci = 0; ci < c; ci++) {
            for (int wi = 0; wi < w; wi++) {
                double ll = 0;
                double hh = 0;
                double lh = 0;
                for (int hi = 0; hi < h; hi++) {
                    int i = (ci * h + hi) * w + wi;
                    ll += (double) low[i] * low[i];
                    hh += (double) high[i] * high[i];
                    lh += (double) low[i] * high[i];
                }
                cos[ci * w + wi] = lh / (Math.sqrt(ll) * Math.sqrt(hh));
                meanCos += cos[ci * w + wi];
            }
        }
        meanCos /= cos.length;
        float[] out = new float[low.length];
        if (meanCos > PARALLEL_THRESHOLD) {
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) (low[i] * val + high[i] * (1 - val));
            }
            return out;
        }
        for (int ci = 0; ci < c; ci++) {
            for (int wi = 0; wi < w; wi++) {
                double omega = Math.acos(cos[ci * w + wi]);
                double so = Math.sin(omega);
                double a = Math.sin((1.0 - val) * omega) / so;
                double b = Math.sin(val * omega) / so;
                for (int hi = 0; hi < h; hi++) {
                    int i = (ci * h + hi) * w + wi;
                    out[i] = (float) (a * low[i] + b * high[i]);
                }
            }
        }
        return out;
    }
}
