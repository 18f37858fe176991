package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Attention;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * MMDiT joint attention (Esser et al. 2024, sec. 4, fig. 2b), diffusers' {@code Attention} with added projections and
 * {@code JointAttnProcessor2_0}: image tokens x and context tokens c get separate q/k/v projections ({@code to_*} and
 * {@code add_*_proj}, optional per-head RMS norms {@code norm_q, norm_k, norm_added_q, norm_added_k}), attend jointly
 * over the concatenated sequence [x, c], and are split again; x leaves through {@code to_out.0}, c through
 * {@code to_add_out} unless the block is {@code context_pre_only} (the last one, whose context output is unused).
 * Shapes: x [B, Lx, dim], c [B, Lc, dim] -> ([B, Lx, dim], [B, Lc, dim] or null).
 */
public final class JointAttention extends Module {

    /** The attended image tokens and context tokens (null when the block is context-pre-only). */
    public record Output(NDArray x, NDArray context) {
    }

    private final int heads;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear addQ;
    private final Linear addK;
    private final Linear addV;
    private final Linear toOut;
    private final Linear toAddOut;
    private final RMSNorm normQ;
    private final RMSNorm normK;
    private final RMSNorm normAddedQ;
    private final RMSNorm normAddedK;

    public JointAttention(long dim, int heads, long headDim, boolean contextPreOnly, String qkNorm, double eps) {
        long inner = heads * headDim;
        this.heads = heads;
        this.toQ = child("to_q", new Linear(dim, inner, true));
        this.toK = child("to_k", new Linear(dim, inner, true));
        this.toV = child("to_v", new Linear(dim, inner, true));
        this.addK = child("add_k_proj", new Linear(dim, inner, true));
        this.addV = child("add_v_proj", new Linear(dim, inner, true));
        this.addQ = child("add_q_proj", new Linear(dim, inner, true));
        this.toOut = child("to_out", new ModuleList<Linear>()).add(new Linear(inner, dim, true));
        this.toAddOut = contextPreOnly ? null : child("to_add_out", new Linear(inner, dim, true));
        this.normQ = optional("norm_q", QkNorm.create(qkNorm, headDim, eps));
        this.normK = optional("norm_k", QkNorm.create(qkNorm, headDim, eps));
        this.normAddedQ = optional("norm_added_q", QkNorm.create(qkNorm, headDim, eps));
        this.normAddedK = optional("norm_added_k", QkNorm.create(qkNorm, headDim, eps));
    }

    private RMSNorm optional(String name, RMSNorm norm) {
        return norm == null ? null : child(name, norm);
    }

    public Output forward(NDArray x, NDArray context) {
        long lx = x.getShape().get(1);
        NDArray q = QkNorm.apply(normQ, toQ.forward(x), heads)
                .concat(QkNorm.apply(normAddedQ, addQ.forward(context), heads), 1);
        NDArray k = QkNorm.apply(normK, toK.forward(x), heads)
                .concat(QkNorm.apply(normAddedK, addK.forward(context), heads), 1);
        NDArray v = toV.forward(x).concat(addV.forward(context), 1);
        NDList parts = Attention.scaledDotProduct(q, k, v, heads, false, null).split(new long[] {lx}, 1);
        NDArray outX = toOut.forward(parts.get(0));
        NDArray outC = toAddOut == null ? null : toAddOut.forward(parts.get(1));
        return new Output(outX, outC);
    }
}
