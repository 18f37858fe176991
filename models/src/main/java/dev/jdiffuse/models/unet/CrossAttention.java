package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Attention;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * Multi-head attention with diffusers' parameter names ({@code to_q}, {@code to_k}, {@code to_v} without bias,
 * {@code to_out.0} with bias): {@code to_out(softmax(q k^T / sqrt(d)) v)} (Vaswani et al. 2017, eq. 1-2).
 * Shapes: x [B, L, queryDim], context [B, Lc, contextDim] (or null for self-attention) -> [B, L, queryDim].
 */
public final class CrossAttention extends Module {

    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final int heads;
    private final boolean upcast;

    /** @param contextDim width of the keys/values' source; equal to {@code queryDim} for self-attention */
    public CrossAttention(long queryDim, long contextDim, int heads, long headDim, boolean upcast) {
        long inner = heads * headDim;
        this.toQ = child("to_q", new Linear(queryDim, inner, false));
        this.toK = child("to_k", new Linear(contextDim, inner, false));
        this.toV = child("to_v", new Linear(contextDim, inner, false));
        this.toOut = child("to_out", new ModuleList<Linear>()).add(new Linear(inner, queryDim, true));
        this.heads = heads;
        this.upcast = upcast;
    }

    /** @param context keys/values source, or null to attend over {@code x} itself */
    public NDArray forward(NDArray x, NDArray context) {
        NDArray kv = context == null ? x : context;
        NDArray attended = Attention.scaledDotProduct(toQ.forward(x), toK.forward(kv), toV.forward(kv), heads, upcast,
                null);
        return toOut.forward(attended);
    }
}
