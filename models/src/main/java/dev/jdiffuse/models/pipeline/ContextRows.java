package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.List;

/**
 * The batching rows of a conditioning made of a text context [B, L, D] and a pooled vector [B, P] (SD 3's, FLUX's):
 * what must be equal to share a forward, and the rows of several requests stacked.
 */
public final class ContextRows {

    /** Equal for requests whose rows can share a forward: the context's row shape [L, D], dtype, pooled width. */
    public record Layout(Shape context, DataType dtype, Shape pooled) {
    }

    private ContextRows() {
    }

    public static Layout layout(NDArray context, NDArray pooled) {
        return new Layout(context.getShape().slice(1), context.getDataType(), pooled.getShape().slice(1));
    }

    /** {@code first} and {@code rest} stacked on the batch axis, owned by {@code manager}. */
    public static NDArray stack(NDArray first, List<NDArray> rest, NDManager manager) {
        NDList all = new NDList(first);
        all.addAll(rest);
        NDArray out = NDArrays.concat(all, 0);
        out.attach(manager);
        return out;
    }
}
