package dev.jdiffuse.models.t5;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Embedding;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/**
 * transformers' {@code T5Attention} as the encoder uses it (self-attention, bidirectional): bias-free q/k/v/o
 * projections and {@code softmax(Q K^T + position_bias) V} per head, with NO {@code 1/sqrt(d_kv)} scaling (T5 folds it
 * into the initialisation of q). Only layer 0 owns {@code relative_attention_bias} [num_buckets, num_heads]; the bias
 * it makes is passed to every later layer.
 */
final class T5Attention extends Module {

    private final T5Config config;
    private final Linear q;
    private final Linear k;
    private final Linear v;
    private final Linear o;
    private final Embedding relativeAttentionBias;

    T5Attention(T5Config c, boolean hasRelativeBias) {
        this.config = c;
        // T5's projections carry no bias; q, k, v map d_model to heads x d_kv, o back
        this.q = unbiased("q", c.dModel(), c.innerDim());
        this.k = unbiased("k", c.dModel(), c.innerDim());
        this.v = unbiased("v", c.dModel(), c.innerDim());
        this.o = unbiased("o", c.innerDim(), c.dModel());
        this.relativeAttentionBias = hasRelativeBias
                ? child("relative_attention_bias", new Embedding(c.relativeAttentionNumBuckets(), c.numHeads()))
                : null;
    }

    private Linear unbiased(String name, long in, long out) {
        return child(name, new Linear(in, out, false));
    }

    boolean hasRelativeBias() {
        return relativeAttentionBias != null;
    }

    /**
     * The position bias [1, H, L, L] in float32: {@code relative_attention_bias[bucket(j - i)]} for query i, key j.
     *
     * @param buckets int64 [L * L] bucket ids in {@link T5RelativePosition#buckets} order, in the activations' manager
     */
    NDArray positionBias(NDArray buckets, int length) {
        NDArray values = relativeAttentionBias.forward(buckets); // [L*L, H]
        return values.reshape(length, length, config.numHeads()).transpose(2, 0, 1).expandDims(0)
                .toType(DataType.FLOAT32, false);
    }

    /**
     * @param x [B, L, D]
     * @param positionBias float32 [1, H, L, L], added to the scores; the softmax runs in float32 and its weights go
     *     back to x's dtype, as transformers' eager T5 attention does
     */
    NDArray forward(NDArray x, NDArray positionBias) {
        long b = x.getShape().get(0);
        long l = x.getShape().get(1);
        int heads = config.numHeads();
        int dkv = config.dKv();
        NDArray qh = q.forward(x).reshape(b, l, heads, dkv).transpose(0, 2, 1, 3);
        NDArray kh = k.forward(x).reshape(b, l, heads, dkv).transpose(0, 2, 1, 3);
        NDArray vh = v.forward(x).reshape(b, l, heads, dkv).transpose(0, 2, 1, 3);
        NDArray scores = qh.matMul(kh.transpose(0, 1, 3, 2));
        NDArray scores32 = scores.getDataType() == DataType.FLOAT32 ? scores : scores.toType(DataType.FLOAT32, false);
        NDArray weights = scores32.add(positionBias).softmax(-1);
        if (weights.getDataType() != x.getDataType()) {
            weights = weights.toType(x.getDataType(), false);
        }
        NDArray out = weights.matMul(vh).transpose(0, 2, 1, 3).reshape(b, l, (long) heads * dkv);
        return o.forward(out);
    }
}
