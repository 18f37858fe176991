package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDManager;

import java.util.List;

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

    /**
     * What must be equal for conditionings of different requests to share one forward ({@link #concatRows}): shapes
     * without the batch axis, dtypes, which extras are present. Null (the default): never shared.
     */
    default Object rowLayout() {
        return null;
    }

    /**
     * Rows of {@code this}, then of each of {@code others} (all of this {@link #rowLayout}), as one conditioning whose
     * arrays belong to {@code manager}. Unlike {@link #concatBatch} nothing is cached here: the caller owns the result.
     */
    default Conditioning concatRows(List<? extends Conditioning> others, NDManager manager) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " is not batched across requests");
    }
}
