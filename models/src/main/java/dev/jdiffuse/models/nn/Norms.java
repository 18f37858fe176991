package dev.jdiffuse.models.nn;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Layer normalisation over the last dimension through PyTorch's fused kernel. DJL's binding needs a scale and a
 * shift, so the affine-free case uses constant ones/zeros, made once per (length, dtype, device) and kept for the
 * life of the process (a few kilobytes).
 */
final class Norms {

    private static final NDManager CONSTANTS = NDManager.newBaseManager();
    private static final Map<String, NDArray[]> IDENTITY = new ConcurrentHashMap<>();

    private Norms() {
    }

    static NDArray layerNorm(NDArray x, long n, NDArray gamma, NDArray beta, float eps) {
        if (gamma == null || beta == null) {
            NDArray[] id = identity(n, x.getDataType(), x.getDevice());
            gamma = gamma == null ? id[0] : gamma;
            beta = beta == null ? id[1] : beta;
        }
        return x.getNDArrayInternal().layerNorm(x, new Shape(n), gamma, beta, eps).singletonOrThrow();
    }

    private static NDArray[] identity(long n, DataType dtype, Device device) {
        return IDENTITY.computeIfAbsent(n + "/" + dtype + "/" + device, k -> {
            NDManager m = CONSTANTS.newSubManager(device);
            return new NDArray[] {m.ones(new Shape(n), dtype), m.zeros(new Shape(n), dtype)};
        });
    }
}
