package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import dev.jdiffuse.models.nn.Attention;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.transformer.RMSNorm;

/**
 * FLUX attention, diffusers' {@code FluxAttention} with {@code FluxAttnProcessor}: q, k, v projections with per-head
 * RMS norms of q and k ({@code norm_q, norm_k}, eps 1e-6), RoPE on q and k ({@link FluxRope}), scaled dot-product
 * attention over all tokens.
 *
 * <ul>
 * <li>Double-stream ({@link #joint}): the context gets its own projections and norms ({@code add_*_proj},
 * {@code norm_added_q/k}); the sequence is [context, image] (text first, unlike SD3); after attention the image part
 * leaves through {@code to_out.0}, the context part through {@code to_add_out}.</li>
 * <li>Single-stream ({@link #single}, {@code pre_only}): one sequence, no output projection (the block's
 * {@code proj_out} follows).</li>
 * </ul>
 * Shapes: x [B, Lx, D], context [B, Lc, D], rope tables [Lc + Lx, headDim].
 */
public final class FluxAttention extends Module {

    /** The attended image tokens and context tokens. */
    public record Output(NDArray x, NDArray context) {
    }

    private final int heads;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final RMSNorm normQ;
    private final RMSNorm normK;
    private final Linear addQ;
    private final Linear addK;
    private final Linear addV;
    private final RMSNorm normAddedQ;
    private final RMSNorm normAddedK;
    private final Linear toOut;
    private final Linear toAddOut;

    private FluxAttention(long dim, int heads, long headDim, boolean joint) {
        long inner = heads * headDim;
        this.heads = heads;
        this.toQ = child("to_q", new Linear(dim, inner, true));
        this.toK = child("to_k", new Linear(dim, inner, true));
        this.toV = child("to_v", new Linear(dim, inner, true));
        this.normQ = child("norm_q", new RMSNorm(headDim, 1e-6, true));
        this.normK = child("norm_k", new RMSNorm(headDim, 1e-6, true));
        if (joint) {
            this.addQ = child("add_q_proj", new Linear(dim, inner, true));
            this.addK = child("add_k_proj", new Linear(dim, inner, true));
            this.addV = child("add_v_proj", new Linear(dim, inner, true));
            this.normAddedQ = child("norm_added_q", new RMSNorm(headDim, 1e-6, true));
            this.normAddedK = child("norm_added_k", new RMSNorm(headDim, 1e-6, true));
            this.toOut = child("to_out", new ModuleList<Linear>()).add(new Linear(inner, dim, true));
            this.toAddOut = child("to_add_out", new Linear(inner, dim, true));
        } else {
            this.addQ = null;
            this.addK = null;
            this.addV = null;
            this.normAddedQ = null;
            this.normAddedK = null;
            this.toOut = null;
            this.toAddOut = null;
        }
    }

    /** The double-stream blocks' attention. */
    public static FluxAttention joint(long dim, int heads, long headDim) {
        return new FluxAttention(dim, heads, headDim, true);
    }

    /** The single-stream blocks' attention ({@code pre_only}). */
    public static FluxAttention single(long dim, int heads, long headDim) {
        return new FluxAttention(dim, heads, headDim, false);
    }

    /** Double-stream: attends [context, x] jointly; rope [Lc + Lx, headDim]. */
    public Output forward(NDArray x, NDArray context, NDList rope) {
        long lc = context.getShape().get(1);
        NDArray q = byHead(addQ.forward(context), normAddedQ).concat(byHead(toQ.forward(x), normQ), 1);
        NDArray k = byHead(addK.forward(context), normAddedK).concat(byHead(toK.forward(x), normK), 1);
        NDArray v = addV.forward(context).concat(toV.forward(x), 1);
        NDList parts = attend(q, k, v, rope).split(new long[] {lc}, 1);
        return new Output(toOut.forward(parts.get(1)), toAddOut.forward(parts.get(0)));
    }

    /** Single-stream: self-attention over x [B, L, D] (context and image already joined); rope [L, headDim]. */
    public NDArray forward(NDArray x, NDList rope) {
        return attend(byHead(toQ.forward(x), normQ), byHead(toK.forward(x), normK), toV.forward(x), rope);
    }

    /** q, k [B, L, H, D] (normed, not yet rotated), v [B, L, H*D] -> [B, L, H*D]. */
    private NDArray attend(NDArray q, NDArray k, NDArray v, NDList rope) {
        NDArray rq = flat(FluxRope.apply(q, rope.get(0), rope.get(1)));
        NDArray rk = flat(FluxRope.apply(k, rope.get(0), rope.get(1)));
        return Attention.scaledDotProduct(rq, rk, v, heads, false, null);
    }

    /** [B, L, H*D] -> [B, L, H, D] with the per-head RMS norm applied. */
    private NDArray byHead(NDArray t, RMSNorm norm) {
        long b = t.getShape().get(0);
        long l = t.getShape().get(1);
        long inner = t.getShape().get(2);
        return norm.forward(t.reshape(b, l, heads, inner / heads));
    }

    private static NDArray flat(NDArray t) {
        return t.reshape(t.getShape().get(0), t.getShape().get(1), -1);
    }
}
