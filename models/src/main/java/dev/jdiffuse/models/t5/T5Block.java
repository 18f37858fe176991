package dev.jdiffuse.models.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;

/**
 * transformers' {@code T5Block} of the encoder, pre-norm with residuals:
 * {@code x += SelfAttention(layer_norm(x))} ({@code layer.0}), {@code x += DenseReluDense(layer_norm(x))}
 * ({@code layer.1}). In float16, values are clamped to the finite range after each half as transformers does
 * (T5 activations overflow half precision).
 */
final class T5Block extends Module {

    private static final float FP16_MAX = 65504f;

    final SelfAttentionLayer attention;
    final FeedForwardLayer feedForward;

    T5Block(T5Config c, boolean hasRelativeBias) {
        ModuleList<Module> layer = child("layer", new ModuleList<>());
        this.attention = (SelfAttentionLayer) layer.add(new SelfAttentionLayer(c, hasRelativeBias));
        this.feedForward = (FeedForwardLayer) layer.add(new FeedForwardLayer(c));
    }

    /** x [B, L, D]; positionBias float32 [1, H, L, L]. */
    NDArray forward(NDArray x, NDArray positionBias) {
        NDArray h = clampHalf(x.add(attention.selfAttention.forward(attention.layerNorm.forward(x), positionBias)));
        return clampHalf(h.add(feedForward.denseReluDense.forward(feedForward.layerNorm.forward(h))));
    }

    /** transformers: {@code clamp(x, -m, m)} with m = max - 1000 if x has an inf, else max (float16 only). */
    private static NDArray clampHalf(NDArray x) {
        if (x.getDataType() != DataType.FLOAT16) {
            return x;
        }
        float m = x.isInfinite().any().getBoolean() ? FP16_MAX - 1000f : FP16_MAX;
        return x.clip(-m, m);
    }

    /** {@code layer.0}: {@code SelfAttention} and its {@code layer_norm}. */
    static final class SelfAttentionLayer extends Module {

        final T5Attention selfAttention;
        final T5LayerNorm layerNorm;

        SelfAttentionLayer(T5Config c, boolean hasRelativeBias) {
            this.selfAttention = child("SelfAttention", new T5Attention(c, hasRelativeBias));
            this.layerNorm = child("layer_norm", new T5LayerNorm(c.dModel(), c.layerNormEpsilon()));
        }
    }

    /** {@code layer.1}: {@code DenseReluDense} and its {@code layer_norm}. */
    static final class FeedForwardLayer extends Module {

        final T5FeedForward denseReluDense;
        final T5LayerNorm layerNorm;

        FeedForwardLayer(T5Config c) {
            this.denseReluDense = child("DenseReluDense", new T5FeedForward(c));
            this.layerNorm = child("layer_norm", new T5LayerNorm(c.dModel(), c.layerNormEpsilon()));
        }
    }
}
