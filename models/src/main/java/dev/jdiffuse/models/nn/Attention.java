package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Scaled dot-product attention (Vaswani et al. 2017, eq. 1): {@code softmax(Q K^T / sqrt(d)) V} over {@code heads}
 * heads. Shapes: q [B, Lq, H*D], k and v [B, Lk, H*D] -> [B, Lq, H*D].
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
        long b = q.getShape().get(0);
        long lq = q.getShape().get(1);
        long lk = k.getShape().get(1);
        long inner = q.getShape().get(2);
        long d = inner / heads;
        DataType dtype = q.getDataType();
        boolean up = upcast && dtype != DataType.FLOAT32;
        NDArray qh = q.reshape(b, lq, heads, d).transpose(0, 2, 1, 3);
        NDArray kt = k.reshape(b, lk, heads, d).transpose(0, 2, 3, 1);
        NDArray vh = v.reshape(b, lk, heads, d).transpose(0, 2, 1, 3);
        if (up) {
            qh = qh.toType(DataType.FLOAT32, false);
            kt = kt.toType(DataType.FLOAT32, false);
        }
        NDArray scores = qh.mul((float) (1.0 / Math.sqrt(d))).matMul(kt);
        if (mask != null) {
            scores = scores.add(mask);
        }
        NDArray probs = scores.softmax(-1);
        if (up) {
            probs = probs.toType(dtype, false);
        }
        return probs.matMul(vh).transpose(0, 2, 1, 3).reshape(b, lq, inner);
    }
}
