package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.transformer.Modulation;

/**
 * diffusers' {@code AdaLayerNormZeroSingle} (FLUX's single-stream blocks): {@code linear(silu(emb))} gives three [B, D]
 * vectors {@code shift, scale, gate}; the input is layer-normed (no affine, eps 1e-6) and modulated by the first two
 * (adaLN-Zero, Peebles and Xie 2023, sec. 3.2, with one shared MLP branch).
 */
public final class AdaLayerNormZeroSingle extends Module {

    /** The normalised, modulated input [B, L, D] and the gate [B, D]. */
    public record Result(NDArray x, NDArray gate) {
    }

    private final Linear linear;
    private final LayerNorm norm;

    public AdaLayerNormZeroSingle(long dim) {
        this.linear = child("linear", new Linear(dim, 3 * dim, true));
        this.norm = child("norm", new LayerNorm(dim, 1e-6, false));
    }

    /** @param x [B, L, D]; @param emb conditioning [B, D] */
    public Result forward(NDArray x, NDArray emb) {
        NDList c = linear.forward(Activations.silu(emb)).split(3, 1);
        return new Result(Modulation.modulate(norm.forward(x), c.get(0), c.get(1)), c.get(2));
    }
}
