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

    /** Self-attention over {@code x}. */
    public NDArray forward(NDArray x) {
        return toOut.forward(Attention.scaledDotProduct(toQ.forward(x), toK.forward(x), toV.forward(x), heads, upcast,
                null));
    }

    /** Cross-attention over {@code context}, whose keys and values this layer projects once per context. */
    public NDArray forward(NDArray x, TextContext context) {
        NDArray[] kv = context.projectedBy(this, c -> new NDArray[] {
            Attention.prepareKeys(toK.forward(c), heads, upcast), Attention.prepareValues(toV.forward(c), heads)});
        return toOut.forward(Attention.attend(toQ.forward(x), kv[0], kv[1], heads, upcast, null));
    }
}
