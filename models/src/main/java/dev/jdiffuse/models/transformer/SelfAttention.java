package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Attention;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * Multi-head self-attention with diffusers' {@code Attention} names ({@code to_q, to_k, to_v, to_out.0}, optional
 * {@code norm_q, norm_k}): {@code to_out(softmax(q k^T / sqrt(d)) v)} (Vaswani et al. 2017, eq. 1). Used by DiT's
 * blocks and as SD3.5's second (image-only) attention. Shape: [B, L, dim] -> [B, L, dim].
 */
public final class SelfAttention extends Module {

    private final int heads;
    private final boolean upcast;
    private final Linear toQ;
    private final Linear toK;
    private final Linear toV;
    private final Linear toOut;
    private final RMSNorm normQ;
    private final RMSNorm normK;

    /**
     * @param qkNorm null or "rms_norm" (per-head RMSNorm of queries and keys with epsilon {@code eps})
     * @param upcast softmax in float32 for half-precision inputs (diffusers' {@code upcast_attention})
     */
    public SelfAttention(long dim, int heads, long headDim, boolean bias, boolean outBias, String qkNorm, double eps,
            boolean upcast) {
        long inner = heads * headDim;
        this.heads = heads;
        this.upcast = upcast;
        this.toQ = child("to_q", new Linear(dim, inner, bias));
        this.toK = child("to_k", new Linear(dim, inner, bias));
        this.toV = child("to_v", new Linear(dim, inner, bias));
        this.toOut = child("to_out", new ModuleList<Linear>()).add(new Linear(inner, dim, outBias));
        RMSNorm nq = QkNorm.create(qkNorm, headDim, eps);
        RMSNorm nk = QkNorm.create(qkNorm, headDim, eps);
        this.normQ = nq == null ? null : child("norm_q", nq);
        this.normK = nk == null ? null : child("norm_k", nk);
    }

    public NDArray forward(NDArray x) {
        NDArray q = QkNorm.apply(normQ, toQ.forward(x), heads);
        NDArray k = QkNorm.apply(normK, toK.forward(x), heads);
        NDArray v = toV.forward(x);
        return toOut.forward(Attention.scaledDotProduct(q, k, v, heads, upcast, null));
    }
}
