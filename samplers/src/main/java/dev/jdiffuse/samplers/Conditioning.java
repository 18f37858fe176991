package dev.jdiffuse.samplers;

/**
 * What a denoiser is conditioned on besides the noisy sample (text embeddings, class labels, pooled embeddings,
 * ControlNet hints...). Concrete types live beside the models; samplers only pass it through.
 */
public interface Conditioning {

    /**
     * Batch concatenation used by classifier-free guidance: rows of {@code this} first, then rows of {@code other}.
     * Both must be of the same concrete type.
     */
    Conditioning concatBatch(Conditioning other);

    /** Number of batch rows this conditioning describes. */
    int batchSize();
}
