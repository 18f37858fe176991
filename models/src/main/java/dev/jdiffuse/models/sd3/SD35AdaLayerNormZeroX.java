package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.transformer.Modulation;

/**
 * SD3.5's adaLN-Zero for MMDiT-X blocks, diffusers' {@code SD35AdaLayerNormZeroX}: {@code linear(silu(emb))} gives nine
 * [B, D] vectors, the six of {@code AdaLayerNormZero} plus {@code shift_msa2, scale_msa2, gate_msa2} that modulate the
 * same normalised input for the second (image-only) attention.
 */
public final class SD35AdaLayerNormZeroX extends Module {

    /** Modulated inputs [B, L, D] of both attentions and the gates/shifts [B, D] the block uses later. */
    public record Result(NDArray x, NDArray gateMsa, NDArray shiftMlp, NDArray scaleMlp, NDArray gateMlp, NDArray x2,
            NDArray gateMsa2) {
    }

    private final Linear linear;
    private final LayerNorm norm;

    public SD35AdaLayerNormZeroX(long dim) {
        this.linear = child("linear", new Linear(dim, 9 * dim, true));
        this.norm = child("norm", new LayerNorm(dim, 1e-6, false));
    }

    public Result forward(NDArray x, NDArray emb) {
        NDList c = linear.forward(Activations.silu(emb)).split(9, 1);
        NDArray normed = norm.forward(x);
        return new Result(Modulation.modulate(normed, c.get(0), c.get(1)), c.get(2), c.get(3), c.get(4), c.get(5),
                Modulation.modulate(normed, c.get(6), c.get(7)), c.get(8));
    }
}
