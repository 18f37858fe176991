package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;

/** diffusers' {@code clip_sample}: clamps the x0 prediction to {@code [-range, range]} (pixel-space models). */
final class Clip {

    private Clip() {
    }

    static NDArray apply(NDArray x0, double range) {
        return Double.isInfinite(range) ? x0 : x0.clip(-range, range);
    }
}
