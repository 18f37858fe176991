package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Attention;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/** transformers' {@code CLIPAttention}: q/k/v/out projections with bias around multi-head attention. */
final class ClipAttention extends Module {

    private final int heads;
    private final Linear q;
    private final Linear k;
    private final Linear v;
    private final Linear out;

    ClipAttention(int dim, int heads) {
        this.heads = heads;
        this.q = child("q_proj", new Linear(dim, dim, true));
        this.k = child("k_proj", new Linear(dim, dim, true));
        this.v = child("v_proj", new Linear(dim, dim, true));
        this.out = child("out_proj", new Linear(dim, dim, true));
    }

    /**
     * @param x [B, L, D]
     * @param mask additive float32 mask [L, L]; scores and softmax run in float32 (transformers' eager attention
     *     takes the softmax in float32 for half-precision models)
     */
    NDArray forward(NDArray x, NDArray mask) {
        return out.forward(Attention.scaledDotProduct(q.forward(x), k.forward(x), v.forward(x), heads, true, mask));
    }
}
