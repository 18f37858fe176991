package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.transformer.AdaLayerNormZero;
import dev.jdiffuse.models.transformer.FeedForward;
import dev.jdiffuse.models.transformer.Modulation;

/**
 * A FLUX double-stream block, diffusers' {@code FluxTransformerBlock} (the MMDiT block of Esser et al. 2024, fig. 2b,
 * with RoPE): image tokens x and context tokens c each get adaLN-Zero modulation from the conditioning vector
 * ({@code norm1}, {@code norm1_context}), attend jointly ({@link FluxAttention#joint}), and pass their own gated
 * tanh-GELU MLPs ({@code ff}, {@code ff_context}). Shapes: x [B, Lx, D], c [B, Lc, D], temb [B, D].
 */
public final class FluxTransformerBlock extends Module {

    /** Updated image tokens and context tokens. */
    public record Output(NDArray x, NDArray context) {
    }

    private final AdaLayerNormZero norm1;
    private final AdaLayerNormZero norm1Context;
    private final FluxAttention attn;
    private final LayerNorm norm2;
    private final FeedForward ff;
    private final LayerNorm norm2Context;
    private final FeedForward ffContext;

    public FluxTransformerBlock(long dim, int heads, long headDim) {
        this.norm1 = child("norm1", new AdaLayerNormZero(dim));
        this.norm1Context = child("norm1_context", new AdaLayerNormZero(dim));
        this.attn = child("attn", FluxAttention.joint(dim, heads, headDim));
        this.norm2 = child("norm2", new LayerNorm(dim, 1e-6, false));
        this.ff = child("ff", FeedForward.geluTanh(dim));
        this.norm2Context = child("norm2_context", new LayerNorm(dim, 1e-6, false));
        this.ffContext = child("ff_context", FeedForward.geluTanh(dim));
    }

    public Output forward(NDArray x, NDArray context, NDArray temb, NDList rope) {
        AdaLayerNormZero.Result n = norm1.forward(x, temb);
        AdaLayerNormZero.Result nc = norm1Context.forward(context, temb);
        FluxAttention.Output a = attn.forward(n.x(), nc.x(), rope);

        x = Modulation.addGated(x, n.gateMsa(), a.x());
        NDArray h = Modulation.modulate(norm2.forward(x), n.shiftMlp(), n.scaleMlp());
        x = Modulation.addGated(x, n.gateMlp(), ff.forward(h));

        context = Modulation.addGated(context, nc.gateMsa(), a.context());
        NDArray hc = Modulation.modulate(norm2Context.forward(context), nc.shiftMlp(), nc.scaleMlp());
        context = Modulation.addGated(context, nc.gateMlp(), ffContext.forward(hc));
        return new Output(FluxHalf.clip(x), FluxHalf.clip(context));
    }
}
