package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.FusedOps;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;

/**
 * Adaptive layer-norm modulation (Perez et al. 2018, FiLM; Peebles and Xie 2023, sec. 3.2 "adaLN"):
 * {@code x * (1 + scale) + shift} and the gated residual {@code gate * y}, with per-sample vectors broadcast over the
 * sequence. Shapes: x [B, L, D], shift/scale/gate [B, D].
 */
public final class Modulation {

    private Modulation() {
    }

    public static NDArray modulate(NDArray x, NDArray shift, NDArray scale) {
        if (FusedOps.hasModulation()) {
            return FusedOps.modulate(x, shift, scale);
        }
        return x.mul(add(scale, 1f).expandDims(1)).add(shift.expandDims(1));
    }

    /** {@code x + gate(g, y)}: adaLN-Zero's gated residual, one kernel call where available. */
    public static NDArray addGated(NDArray x, NDArray g, NDArray y) {
        if (FusedOps.hasModulation()) {
            return FusedOps.gatedAdd(x, g, y);
        }
        return x.add(gate(g, y));
    }

    public static NDArray gate(NDArray gate, NDArray y) {
        return y.mul(gate.expandDims(1));
    }
}
