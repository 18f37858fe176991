package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.GroupNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * The spatial transformer of the SD UNet (Rombach et al. 2022, sec. 3.3; diffusers {@code Transformer2DModel} on
 * continuous input): GroupNorm (eps 1e-6), {@code proj_in}, {@link BasicTransformerBlock}s over the H*W tokens,
 * {@code proj_out}, plus the input. The projections are 1x1 convolutions applied before flattening (SD1) or linears
 * applied to the tokens ({@code use_linear_projection}, SD2/SDXL). Shapes: x [B, C, H, W], context [B, Lc, D] ->
 * [B, C, H, W].
 */
public final class Transformer2DModel extends Module {

    private static final double NORM_EPS = 1e-6;

    private final GroupNorm norm;
    private final Conv2d projInConv;
    private final Linear projInLinear;
    private final ModuleList<BasicTransformerBlock> blocks;
    private final Conv2d projOutConv;
    private final Linear projOutLinear;
    private final long inner;

    public Transformer2DModel(long channels, AttentionSettings s) {
        long headDim = channels / s.heads();
        this.inner = headDim * s.heads();
        this.norm = child("norm", new GroupNorm(s.groups(), channels, NORM_EPS));
        if (s.linearProjection()) {
            this.projInLinear = child("proj_in", new Linear(channels, inner, true));
            this.projInConv = null;
        } else {
            this.projInConv = child("proj_in", Conv2d.pointwise(channels, inner));
            this.projInLinear = null;
        }
        this.blocks = child("transformer_blocks", new ModuleList<>());
        for (int i = 0; i < s.layers(); i++) {
            blocks.add(new BasicTransformerBlock(inner, s.heads(), headDim, s.crossAttentionDim(), s.upcast()));
        }
        if (s.linearProjection()) {
            this.projOutLinear = child("proj_out", new Linear(inner, channels, true));
            this.projOutConv = null;
        } else {
            this.projOutConv = child("proj_out", Conv2d.pointwise(inner, channels));
            this.projOutLinear = null;
        }
    }

    /**
     * {@code t} [B, C, H, W] (a permuted view with channels-last strides) copied into NCHW memory, as diffusers does
     * with {@code .contiguous()}: merging B and C cannot be a view of that layout, so the reshape copies.
     */
    private static NDArray nchw(NDArray t) {
        Shape s = t.getShape();
        return t.reshape(s.get(0) * s.get(1), s.get(2) * s.get(3)).reshape(s);
    }

    public NDArray forward(NDArray x, TextContext context) {
        long b = x.getShape().get(0);
        long c = x.getShape().get(1);
        long h = x.getShape().get(2);
        long w = x.getShape().get(3);
        NDArray t = norm.forward(x);
        if (projInConv != null) {
            t = projInConv.forward(t).transpose(0, 2, 3, 1).reshape(b, h * w, inner);
        } else {
            t = projInLinear.forward(t.transpose(0, 2, 3, 1).reshape(b, h * w, c));
        }
        for (BasicTransformerBlock block : blocks) {
            t = block.forward(t, context);
        }
        if (projOutConv != null) {
            t = projOutConv.forward(nchw(t.reshape(b, h, w, inner).transpose(0, 3, 1, 2)));
        } else {
            t = nchw(projOutLinear.forward(t).reshape(b, h, w, c).transpose(0, 3, 1, 2));
        }
        return t.add(x);
    }
}
