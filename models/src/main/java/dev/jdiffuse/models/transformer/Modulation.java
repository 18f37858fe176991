package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;

/**
 * Adaptive layer-norm modulation (Perez et al. 2018, FiLM; Peebles and Xie 2023, sec. 3.2 "adaLN"):
 * {@code x * (1 + scale) + shift} and the gated residual {@code gate * y}, with per-sample vectors broadcast over the
 * sequence. Shapes: x [B, L, D], shift/scale/gate [B, D].
 */
public final class Modulation {

    private Modulation() {
    }

    public static NDArray modulate(NDArray x, NDArray shift, NDArray scale) {
        return x.mul(scale.add(1f).expandDims(1)).add(shift.expandDims(1));
    }

    public static NDArray gate(NDArray gate, NDArray y) {
        return y.mul(gate.expandDims(1));
    }
}
