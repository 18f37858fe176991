package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.transformer.AdaLayerNormContinuous;
import dev.jdiffuse.models.transformer.AdaLayerNormZero;
import dev.jdiffuse.models.transformer.FeedForward;
import dev.jdiffuse.models.transformer.JointAttention;
import dev.jdiffuse.models.transformer.Modulation;
import dev.jdiffuse.models.transformer.SelfAttention;

/**
 * One MMDiT block (Esser et al. 2024, fig. 2b), diffusers' {@code JointTransformerBlock}: image tokens x and context
 * tokens c each get adaLN-Zero modulation from the conditioning vector ({@code norm1}, {@code norm1_context}), attend
 * jointly ({@code attn}), and pass their own gated MLPs ({@code ff}, {@code ff_context}). SD3.5 MMDiT-X blocks add a
 * gated image-only self-attention {@code attn2} fed by {@link SD35AdaLayerNormZeroX}. The last block is
 * {@code context_pre_only}: its context is only normalised ({@link AdaLayerNormContinuous}) and not updated.
 * Shapes: x [B, Lx, D], c [B, Lc, D], temb [B, D].
 */
public final class JointTransformerBlock extends Module {

    /** Updated image tokens and context tokens (null after a context-pre-only block). */
    public record Output(NDArray x, NDArray context) {
    }

    private final boolean contextPreOnly;
    private final AdaLayerNormZero norm1;
    private final SD35AdaLayerNormZeroX norm1X;
    private final AdaLayerNormZero norm1Context;
    private final AdaLayerNormContinuous norm1ContextFinal;
    private final JointAttention attn;
    private final SelfAttention attn2;
    private final LayerNorm norm2;
    private final FeedForward ff;
    private final LayerNorm norm2Context;
    private final FeedForward ffContext;

    public JointTransformerBlock(long dim, int heads, long headDim, boolean contextPreOnly, String qkNorm,
            boolean dualAttention) {
        this.contextPreOnly = contextPreOnly;
        this.norm1X = dualAttention ? child("norm1", new SD35AdaLayerNormZeroX(dim)) : null;
        this.norm1 = dualAttention ? null : child("norm1", new AdaLayerNormZero(dim));
        this.norm1ContextFinal = contextPreOnly
                ? child("norm1_context", new AdaLayerNormContinuous(dim, dim, false, 1e-6, true)) : null;
        this.norm1Context = contextPreOnly ? null : child("norm1_context", new AdaLayerNormZero(dim));
        this.attn = child("attn", new JointAttention(dim, heads, headDim, contextPreOnly, qkNorm, 1e-6));
        this.attn2 = dualAttention
                ? child("attn2", new SelfAttention(dim, heads, headDim, true, true, qkNorm, 1e-6, false)) : null;
        this.norm2 = child("norm2", new LayerNorm(dim, 1e-6, false));
        this.ff = child("ff", FeedForward.geluTanh(dim));
        this.norm2Context = contextPreOnly ? null : child("norm2_context", new LayerNorm(dim, 1e-6, false));
        this.ffContext = contextPreOnly ? null : child("ff_context", FeedForward.geluTanh(dim));
    }

    public boolean contextPreOnly() {
        return contextPreOnly;
    }

    public Output forward(NDArray x, NDArray context, NDArray temb) {
        NDArray normX;
        NDArray gateMsa;
        NDArray shiftMlp;
        NDArray scaleMlp;
        NDArray gateMlp;
        SD35AdaLayerNormZeroX.Result dual = null;
        if (norm1X != null) {
            dual = norm1X.forward(x, temb);
            normX = dual.x();
            gateMsa = dual.gateMsa();
            shiftMlp = dual.shiftMlp();
            scaleMlp = dual.scaleMlp();
            gateMlp = dual.gateMlp();
        } else {
            AdaLayerNormZero.Result n = norm1.forward(x, temb);
            normX = n.x();
            gateMsa = n.gateMsa();
            shiftMlp = n.shiftMlp();
            scaleMlp = n.scaleMlp();
            gateMlp = n.gateMlp();
        }
        AdaLayerNormZero.Result nc = contextPreOnly ? null : norm1Context.forward(context, temb);
        NDArray normC = contextPreOnly ? norm1ContextFinal.forward(context, temb) : nc.x();

        JointAttention.Output a = attn.forward(normX, normC);
        x = Modulation.addGated(x, gateMsa, a.x());
        if (dual != null) {
            x = Modulation.addGated(x, dual.gateMsa2(), attn2.forward(dual.x2()));
        }
        NDArray h = Modulation.modulate(norm2.forward(x), shiftMlp, scaleMlp);
        x = Modulation.addGated(x, gateMlp, ff.forward(h));
        if (contextPreOnly) {
            return new Output(x, null);
        }
        context = Modulation.addGated(context, nc.gateMsa(), a.context());
        NDArray hc = Modulation.modulate(norm2Context.forward(context), nc.shiftMlp(), nc.scaleMlp());
        context = Modulation.addGated(context, nc.gateMlp(), ffContext.forward(hc));
        return new Output(x, context);
    }
}
