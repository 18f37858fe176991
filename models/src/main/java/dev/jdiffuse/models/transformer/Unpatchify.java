package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;

/**
 * The inverse of patchifying (Peebles and Xie 2023, sec. 3.1 "transformer decoder"): tokens [B, h*w, p*p*C], each the
 * (p, q, c)-ordered pixels of one patch, back to the image [B, C, h*p, w*p] (diffusers' {@code einsum("nhwpqc->nchpwq")}).
 */
public final class Unpatchify {

    private Unpatchify() {
    }

    public static NDArray apply(NDArray tokens, long h, long w, int patch, long channels) {
        long b = tokens.getShape().get(0);
        return tokens.reshape(b, h, w, patch, patch, channels).transpose(0, 5, 1, 3, 2, 4)
                .reshape(b, channels, h * patch, w * patch);
    }
}
