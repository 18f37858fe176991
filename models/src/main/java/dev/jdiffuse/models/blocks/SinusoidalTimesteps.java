package dev.jdiffuse.models.blocks;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

/**
 * Sinusoidal timestep features (Vaswani et al. 2017, sec. 3.5; diffusers {@code get_timestep_embedding}):
 * {@code freq_i = exp(-ln(maxPeriod) * i / (half - shift))}, features {@code [sin(t*freq), cos(t*freq)]}, swapped to
 * {@code [cos, sin]} when {@code flipSinToCos}. Computed on the host in float32, step by step as diffusers does, so the
 * rounding of {@code t * freq} for large t matches; [B] -> [B, dim] float32 in {@code manager}.
 */
public final class SinusoidalTimesteps {

    private final int dim;
    private final boolean flipSinToCos;
    private final double downscaleFreqShift;
    private final double scale;
    private final double maxPeriod;

    public SinusoidalTimesteps(int dim, boolean flipSinToCos, double downscaleFreqShift, double scale,
            double maxPeriod) {
        this.dim = dim;
        this.flipSinToCos = flipSinToCos;
        this.downscaleFreqShift = downscaleFreqShift;
        this.scale = scale;
        this.maxPeriod = maxPeriod;
    }

    public SinusoidalTimesteps(int dim, boolean flipSinToCos, double downscaleFreqShift) {
        this(dim, flipSinToCos, downscaleFreqShift, 1.0, 10000.0);
    }

    public int dim() {
        return dim;
    }

    public NDArray embed(NDManager manager, double[] timesteps) {
        int half = dim / 2;
        float[] freqs = new float[half];
        float logMax = (float) -Math.log(maxPeriod);
        float denom = (float) (half - downscaleFreqShift);
        for (int i = 0; i < half; i++) {
            freqs[i] = (float) Math.exp((logMax * i) / denom);
        }
        float[] out = new float[timesteps.length * dim];
        for (int b = 0; b < timesteps.length; b++) {
            float t = (float) timesteps[b];
            for (int i = 0; i < half; i++) {
                float arg = t * freqs[i];
                if (scale != 1.0) {
                    arg = (float) (scale * arg);
                }
                float s = (float) Math.sin(arg);
                float c = (float) Math.cos(arg);
                int base = b * dim;
                out[base + (flipSinToCos ? half + i : i)] = s;
                out[base + (flipSinToCos ? i : half + i)] = c;
            }
        }
        return manager.create(out, new Shape(timesteps.length, dim));
    }
}
