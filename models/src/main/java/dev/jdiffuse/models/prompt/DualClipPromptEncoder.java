package dev.jdiffuse.models.prompt;

import ai.djl.ndarray.NDManager;

/**
 * SDXL's two CLIP encoders as A1111 runs them: each prompt is chunked and weighted by each encoder on its own
 * (same BPE, so the same chunk boundaries; the second tokenizer pads with its own pad id), the contexts are
 * concatenated along the features ([B, 77k, D1 + D2]) and the pooled embedding is the second encoder's projected
 * pooled output of the FIRST chunk ({@code zs[0].pooled}).
 */
public record DualClipPromptEncoder(WeightedPromptEncoder first, WeightedPromptEncoder second) {

    /** context [B, 77k, D1 + D2]; pooled and textEmbeds from the second encoder's first chunk. */
    public WeightedEncoding encode(NDManager manager, String prompt, int batch) {
        return encode(manager, prompt, batch, dev.jdiffuse.models.textinv.EmbeddingSet.EMPTY);
    }

    /** With textual-inversion embeddings: each encoder takes the vectors of its own width (SDXL's clip_l, clip_g). */
    public WeightedEncoding encode(NDManager manager, String prompt, int batch,
            dev.jdiffuse.models.textinv.EmbeddingSet embeddings) {
        WeightedEncoding a = first.encode(manager, prompt, batch, embeddings);
        WeightedEncoding b = second.encode(manager, prompt, batch, embeddings);
        if (a.chunks() != b.chunks()) {
            // Only reachable with tokenizers of different vocabularies, which no SDXL checkpoint has.
            throw new IllegalStateException("the two tokenizers chunk the prompt differently: " + a.chunks() + " vs "
                    + b.chunks());
        }
        return new WeightedEncoding(a.context().concat(b.context(), -1), b.pooled(), b.textEmbeds(), a.chunks());
    }
}
