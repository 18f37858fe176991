package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;

/**
 * Per-head query/key normalisation of diffusers' {@code Attention(qk_norm="rms_norm")}: an {@link RMSNorm} over the
 * head dimension. Applied in the [B, L, H*D] layout by viewing it as [B, L, H, D]; null-safe helper.
 */
final class QkNorm {

    private QkNorm() {
    }

    /** Normalises each head of {@code x} [B, L, H*D] with {@code norm} (over D); returns {@code x} when norm is null. */
    static NDArray apply(RMSNorm norm, NDArray x, int heads) {
        if (norm == null) {
            return x;
        }
        long b = x.getShape().get(0);
        long l = x.getShape().get(1);
        long inner = x.getShape().get(2);
        return norm.forward(x.reshape(b, l, heads, inner / heads)).reshape(b, l, inner);
    }

    /** The norm a config value asks for: null (none) or "rms_norm" (elementwise-affine RMSNorm over the head). */
    static RMSNorm create(String qkNorm, long headDim, double eps) {
        if (qkNorm == null) {
            return null;
        }
        if (!qkNorm.equals("rms_norm")) {
            throw new IllegalArgumentException("unsupported qk_norm " + qkNorm);
        }
        return new RMSNorm(headDim, eps, true);
    }
}
