package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/**
 * adaLN-Zero (Peebles and Xie 2023, sec. 3.2), diffusers' {@code AdaLayerNormZero}: {@code linear(silu(emb))} gives six
 * [B, D] vectors {@code shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp}; the input is layer-normed
 * (no affine, eps 1e-6) and modulated by the first two. An optional conditioning module is registered as {@code emb}
 * (DiT's per-block timestep + class embedding); its output is computed by the caller and passed to {@link #forward}.
 */
public final class AdaLayerNormZero extends Module {

    /** The normalised, modulated input [B, L, D] and the four vectors [B, D] the block uses later. */
    public record Result(NDArray x, NDArray gateMsa, NDArray shiftMlp, NDArray scaleMlp, NDArray gateMlp) {
    }

    private final Linear linear;
    private final LayerNorm norm;

    public AdaLayerNormZero(long dim) {
        this(dim, null);
    }

    public AdaLayerNormZero(long dim, Module embedding) {
        if (embedding != null) {
            child("emb", embedding);
        }
        this.linear = child("linear", new Linear(dim, 6 * dim, true));
        this.norm = child("norm", new LayerNorm(dim, 1e-6, false));
    }

    /** @param x [B, L, D]; @param emb conditioning [B, D] */
    public Result forward(NDArray x, NDArray emb) {
        NDList c = linear.forward(Activations.silu(emb)).split(6, 1);
        NDArray normed = Modulation.modulate(norm.forward(x), c.get(0), c.get(1));
        return new Result(normed, c.get(2), c.get(3), c.get(4), c.get(5));
    }
}
