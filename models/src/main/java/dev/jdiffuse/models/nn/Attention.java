package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Scaled dot-product attention (Vaswani et al. 2017, eq. 1): {@code softmax(Q K^T / sqrt(d)) V} over {@code heads}
 * heads. Shapes: q [B, Lq, H*D], k and v [B, Lk, H*D] -> [B, Lq, H*D].
 *
 * <p>Keys and values can be prepared once ({@link #prepareKeys}, {@link #prepareValues}) and reused across calls:
 * cross-attention over a text context that does not change between sampler steps does so.
 */
public final class Attention {

    private Attention() {
    }

    /**
     * @param upcast compute scores and softmax in float32 when the inputs are half precision (diffusers'
     *     {@code upcast_attention} / {@code upcast_softmax})
     * @param mask optional additive mask broadcastable to [B, H, Lq, Lk], or null
     */
    public static NDArray scaledDotProduct(NDArray q, NDArray k, NDArray v, int heads, boolean upcast, NDArray mask) {
        return attend(q, prepareKeys(k, heads, upcast), prepareValues(v, heads), heads, upcast, mask);
    }

    /** k [B, Lk, H*D] -> keys by head [B, H, Lk, D] (float32 when {@code upcast} and k is half, unfused path). */
    public static NDArray prepareKeys(NDArray k, int heads, boolean upcast) {
        NDArray kh = byHead(k, heads);
        if (upcast && !FusedOps.available() && k.getDataType() != DataType.FLOAT32) {
            kh = kh.toType(DataType.FLOAT32, false);
        }
        return kh;
    }

    /** v [B, Lk, H*D] -> [B, H, Lk, D]. */
    public static NDArray prepareValues(NDArray v, int heads) {
        return byHead(v, heads);
    }

    private static NDArray byHead(NDArray t, int heads) {
        long b = t.getShape().get(0);
        long l = t.getShape().get(1);
        long d = t.getShape().get(2) / heads;
        return t.reshape(b, l, heads, d).transpose(0, 2, 1, 3);
    }

    /**
     * Attention of q [B, Lq, H*D] over keys from {@link #prepareKeys} and values from {@link #prepareValues}
     * -> [B, Lq, H*D]. Uses PyTorch's fused kernel where available ({@link FusedOps}), which also keeps the softmax
     * in float32 for half inputs; otherwise scores, softmax and the weighted sum as separate ops.
     */
    public static NDArray attend(NDArray q, NDArray keys, NDArray values, int heads, boolean upcast, NDArray mask) {
        long b = q.getShape().get(0);
        long lq = q.getShape().get(1);
        long inner = q.getShape().get(2);
        long d = inner / heads;
        DataType dtype = q.getDataType();
        NDArray qh = q.reshape(b, lq, heads, d).transpose(0, 2, 1, 3);
        NDArray out;
        if (FusedOps.available()) {
            NDArray m = mask == null || mask.getDataType() == dtype ? mask : mask.toType(dtype, false);
            out = FusedOps.attention(qh, keys, values, m);
        } else {
            boolean up = upcast && dtype != DataType.FLOAT32;
            if (up) {
                qh = qh.toType(DataType.FLOAT32, false);
            }
            NDArray scores = mul(qh, (float) (1.0 / Math.sqrt(d))).matMul(keys.transpose(0, 1, 3, 2));
            if (mask != null) {
                scores = scores.add(mask);
            }
            NDArray probs = scores.softmax(-1);
            if (up) {
                probs = probs.toType(dtype, false);
            }
            out = probs.matMul(values);
        }
        return out.transpose(0, 2, 1, 3).reshape(b, lq, inner);
    }
}
