package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Module;

/**
 * diffusers' {@code BasicTransformerBlock} with {@code norm_type="layer_norm"} (pre-norm, Rombach et al. 2022 sec.
 * 3.3): {@code x += attn1(norm1(x)); x += attn2(norm2(x), context); x += ff(norm3(x))} with a GEGLU feed-forward of
 * width 4 * dim. Shapes: x [B, L, dim], context [B, Lc, contextDim] -> [B, L, dim].
 */
public final class BasicTransformerBlock extends Module {

    private static final double LAYER_NORM_EPS = 1e-5;

    private final LayerNorm norm1;
    private final CrossAttention attn1;
    private final LayerNorm norm2;
    private final CrossAttention attn2;
    private final LayerNorm norm3;
    private final GegluFeedForward ff;

    public BasicTransformerBlock(long dim, int heads, long headDim, long contextDim, boolean upcast) {
        this.norm1 = child("norm1", new LayerNorm(dim, LAYER_NORM_EPS, true));
        this.attn1 = child("attn1", new CrossAttention(dim, dim, heads, headDim, upcast));
        this.norm2 = child("norm2", new LayerNorm(dim, LAYER_NORM_EPS, true));
        this.attn2 = child("attn2", new CrossAttention(dim, contextDim, heads, headDim, upcast));
        this.norm3 = child("norm3", new LayerNorm(dim, LAYER_NORM_EPS, true));
        this.ff = child("ff", new GegluFeedForward(dim, dim * 4));
    }

    public NDArray forward(NDArray x, TextContext context) {
        // the branch first, as diffusers adds them: the sum takes its first operand's memory layout, and x enters the
        // first block as a transposed view of proj_in's NCHW output (see UNetScriptSource)
        x = attn1.forward(norm1.forward(x)).add(x);
        x = attn2.forward(norm2.forward(x), context).add(x);
        return ff.forward(norm3.forward(x)).add(x);
    }
}
