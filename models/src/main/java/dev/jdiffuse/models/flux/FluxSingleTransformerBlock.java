package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.transformer.Modulation;

/**
 * A FLUX single-stream block, diffusers' {@code FluxSingleTransformerBlock} (the parallel attention + MLP layout of
 * Dehghani et al. 2023, ViT-22B, sec. 2): one modulated layer norm ({@link AdaLayerNormZeroSingle}) feeds both
 * self-attention over the joined [context, image] sequence and a tanh-GELU MLP ({@code proj_mlp}); their outputs are
 * concatenated on features, projected back ({@code proj_out}), gated and added to the input.
 * Shapes: h [B, Lc + Lx, D] -> [B, Lc + Lx, D]; temb [B, D].
 */
public final class FluxSingleTransformerBlock extends Module {

    private final AdaLayerNormZeroSingle norm;
    private final Linear projMlp;
    private final FluxAttention attn;
    private final Linear projOut;

    public FluxSingleTransformerBlock(long dim, int heads, long headDim) {
        long mlp = 4 * dim;
        this.norm = child("norm", new AdaLayerNormZeroSingle(dim));
        this.projMlp = child("proj_mlp", new Linear(dim, mlp, true));
        this.attn = child("attn", FluxAttention.single(dim, heads, headDim));
        this.projOut = child("proj_out", new Linear(dim + mlp, dim, true));
    }

    public NDArray forward(NDArray h, NDArray temb, NDList rope) {
        AdaLayerNormZeroSingle.Result n = norm.forward(h, temb);
        NDArray mlp = Activations.geluTanh(projMlp.forward(n.x()));
        NDArray joined = attn.forward(n.x(), rope).concat(mlp, 2);
        return FluxHalf.clip(Modulation.addGated(h, n.gate(), projOut.forward(joined)));
    }
}
