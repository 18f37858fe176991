package dev.jdiffuse.models.prompt;

import ai.djl.ndarray.NDArray;

/**
 * A prompt's text-encoder output over all its chunks.
 *
 * @param context [B, 77 * chunks, D], the weighted hidden states of every chunk concatenated along the sequence
 * @param pooled [B, D], the FIRST chunk's pooled output (A1111 returns {@code zs[0].pooled})
 * @param textEmbeds [B, P], the first chunk's projected pooled output; null for an encoder without projection
 * @param chunks how many 77-token chunks were encoded
 */
public record WeightedEncoding(NDArray context, NDArray pooled, NDArray textEmbeds, int chunks) {
}
