package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.SparseFormat;

/** A lookup table [num, dim]; ids of any shape -> [..., dim]. */
public final class Embedding extends Module {

    private final Parameter weight;

    public Embedding(long num, long dim) {
        this.weight = param("weight", num, dim);
    }

    /** @param ids int64 indices; the result lives in {@code ids}' manager. */
    public NDArray forward(NDArray ids) {
        NDArray out = weight.get().getNDArrayInternal().embedding(ids, weight.get(), SparseFormat.DENSE)
                .singletonOrThrow();
        out.attach(ids.getManager());
        return out;
    }

    /** The whole table (e.g. learned position embeddings), owned by the weights. */
    public NDArray table() {
        return weight.get();
    }
}
