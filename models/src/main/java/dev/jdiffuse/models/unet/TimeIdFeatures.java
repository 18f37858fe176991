package dev.jdiffuse.models.unet;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Sinusoidal features of values that live on the device (SDXL's time ids), computed there so the forward pass needs
 * no host round-trip: the same formula as diffusers' {@code get_timestep_embedding} (max period 10000, float32), see
 * {@link dev.jdiffuse.models.blocks.SinusoidalTimesteps}. The frequency vector is made once per device and kept for
 * the life of the process as [1, dim/2]. Shapes: [N] -> [N, dim] float32.
 */
final class TimeIdFeatures {

    private static final NDManager CONSTANTS = NDManager.newBaseManager();
    private static final Map<String, NDArray> FREQS = new ConcurrentHashMap<>();

    private final int dim;
    private final boolean flipSinToCos;
    private final double shift;

    TimeIdFeatures(int dim, boolean flipSinToCos, double shift) {
        if (dim % 2 != 0) {
            throw new IllegalArgumentException("odd sinusoidal width " + dim + " is not supported");
        }
        this.dim = dim;
        this.flipSinToCos = flipSinToCos;
        this.shift = shift;
    }

    NDArray embed(NDArray values) {
        NDArray freqs = freqs(values.getDevice());
        NDArray args = values.toType(DataType.FLOAT32, false).reshape(-1, 1).mul(freqs);
        NDArray sin = args.sin();
        NDArray cos = args.cos();
        return NDArrays.concat(flipSinToCos ? new NDList(cos, sin) : new NDList(sin, cos), 1);
    }

    /** The frequencies [1, dim/2] float32 on {@code device}, made once per device. */
    NDArray freqs(Device device) {
        return FREQS.computeIfAbsent(dim + "/" + shift + "/" + device, k -> {
            int half = dim / 2;
            float[] f = new float[half];
            float logMax = (float) -Math.log(10000.0);
            float denom = (float) (half - shift);
            for (int i = 0; i < half; i++) {
                f[i] = (float) Math.exp((logMax * i) / denom);
            }
            return CONSTANTS.newSubManager(device).create(f, new Shape(1, half));
        });
    }
}
