package dev.jdiffuse.models.dit;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.transformer.AdaLayerNormZero;
import dev.jdiffuse.models.transformer.FeedForward;
import dev.jdiffuse.models.transformer.Modulation;
import dev.jdiffuse.models.transformer.SelfAttention;

/**
 * The DiT block with adaLN-Zero (Peebles and Xie 2023, fig. 3), diffusers' {@code BasicTransformerBlock} with
 * {@code norm_type="ada_norm_zero"} and no cross-attention:
 * {@code x += gate_msa * attn1(adaLN(x)); x += gate_mlp * ff(norm3(x) * (1 + scale_mlp) + shift_mlp)}, where each block
 * owns its conditioning MLP {@code norm1.emb}. Shape: [B, L, D] -> [B, L, D].
 */
public final class DiTBlock extends dev.jdiffuse.models.nn.Module {

    /** The block's output and the conditioning vector [B, D] it computed (the model's final layer reuses block 0's). */
    public record Output(NDArray x, NDArray conditioning) {
    }

    private final CombinedTimestepLabelEmbeddings emb;
    private final AdaLayerNormZero norm1;
    private final SelfAttention attn1;
    private final LayerNorm norm3;
    private final FeedForward ff;

    public DiTBlock(DiTConfig c) {
        long dim = c.innerDim();
        this.emb = new CombinedTimestepLabelEmbeddings(c.numEmbedsAdaNorm(), dim);
        this.norm1 = child("norm1", new AdaLayerNormZero(dim, emb));
        this.attn1 = child("attn1", new SelfAttention(dim, c.numAttentionHeads(), c.attentionHeadDim(),
                c.attentionBias(), true, null, 1e-5, c.upcastAttention()));
        this.norm3 = child("norm3", new LayerNorm(dim, c.normEps(), c.normElementwiseAffine()));
        this.ff = child("ff", new FeedForward(dim, dim, 4 * dim, c.activationFn(), true));
    }

    /**
     * @param x tokens [B, L, D]
     * @param timeFeatures sinusoidal timestep features [B, 256] in the compute dtype
     * @param labels class ids [B] (int64)
     */
    public Output forward(NDArray x, NDArray timeFeatures, NDArray labels) {
        NDArray conditioning = emb.forward(timeFeatures, labels);
        AdaLayerNormZero.Result n = norm1.forward(x, conditioning);
        x = Modulation.addGated(x, n.gateMsa(), attn1.forward(n.x()));
        NDArray h = Modulation.modulate(norm3.forward(x), n.shiftMlp(), n.scaleMlp());
        x = Modulation.addGated(x, n.gateMlp(), ff.forward(h));
        return new Output(x, conditioning);
    }
}
