package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Scaled dot-product attention (Vaswani et al. 2017, eq. 1): {@code softmax(Q K^T / sqrt(d)) V} over {@code heads}
 * heads. Shapes: q [B, Lq, H*D], k and v [B, Lk, H*D] -> [B, Lq, H*D].
 *
 * <p>Keys and values can be prepared once ({@link #prepareKeys}, {@link #prepareValues}) and reused across calls:
 * cross-attention over a text context that does not change between sampler steps does so (the 1/sqrt(d) scale is
 * folded into the prepared keys).
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

    /** k [B, Lk, H*D] -> scaled, transposed keys [B, H, D, Lk] (float32 when {@code upcast} and k is half). */
    public static NDArray prepareKeys(NDArray k, int heads, boolean upcast) {
        long b = k.getShape().get(0);
        long lk = k.getShape().get(1);
        long d = k.getShape().get(2) / heads;
        NDArray kt = k.reshape(b, lk, heads, d).transpose(0, 2, 3, 1);
        if (upcast && k.getDataType() != DataType.FLOAT32) {
            kt = kt.toType(DataType.FLOAT32, false);
        }
        return kt.mul((float) (1.0 / Math.sqrt(d)));
    }

    /** v [B, Lk, H*D] -> [B, H, Lk, D]. */
    public static NDArray prepareValues(NDArray v, int heads) {
        long b = v.getShape().get(0);
        long lk = v.getShape().get(1);
        long d = v.getShape().get(2) / heads;
        return v.reshape(b, lk, heads, d).transpose(0, 2, 1, 3);
    }

    /**
     * Attention of q [B, Lq, H*D] over keys from {@link #prepareKeys} and values from {@link #prepareValues}
     * (their batch may be 1 or B) -> [B, Lq, H*D].
     */
    public static NDArray attend(NDArray q, NDArray keysT, NDArray values, int heads, boolean upcast, NDArray mask) {
        long b = q.getShape().get(0);
        long lq = q.getShape().get(1);
        long inner = q.getShape().get(2);
        long d = inner / heads;
        DataType dtype = q.getDataType();
        boolean up = upcast && dtype != DataType.FLOAT32;
        NDArray qh = q.reshape(b, lq, heads, d).transpose(0, 2, 1, 3);
        if (up) {
            qh = qh.toType(DataType.FLOAT32, false);
        }
        NDArray scores = qh.matMul(keysT);
        if (mask != null) {
            scores = scores.add(mask);
        }
        NDArray probs = scores.softmax(-1);
        if (up) {
            probs = probs.toType(dtype, false);
        }
        return probs.matMul(values).transpose(0, 2, 1, 3).reshape(b, lq, inner);
    }
}
