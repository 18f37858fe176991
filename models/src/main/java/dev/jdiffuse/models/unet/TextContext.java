package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;

import java.util.IdentityHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The text context [B, L, D] a UNet cross-attends to, with the keys and values each cross-attention layer projects
 * from it. The context is the same at every sampler step of a request, so a pipeline keeps one {@code TextContext}
 * per request and each layer projects it once (16 layers x 2 projections and their reshapes saved per step in SD
 * 1.5). The projections belong to the context's manager (the request's), so they are freed with it. Not thread-safe:
 * one request, one thread.
 */
public final class TextContext {

    private final NDArray hidden;
    private final Map<Object, NDArray[]> projected = new IdentityHashMap<>();
    private final Map<ai.djl.ndarray.types.DataType, TextContext> converted = new java.util.EnumMap<>(
            ai.djl.ndarray.types.DataType.class);

    private TextContext(NDArray hidden) {
        this.hidden = hidden;
    }

    public static TextContext of(NDArray hidden) {
        return new TextContext(hidden);
    }

    public NDArray hidden() {
        return hidden;
    }

    /** {@code layer}'s projection of this context, computed on first use. */
    NDArray[] projectedBy(Object layer, Function<NDArray, NDArray[]> project) {
        return projected.computeIfAbsent(layer, l -> project.apply(hidden));
    }

    /**
     * This context converted to {@code dtype} (itself if it already is), made once so that its projections are
     * reused across steps too.
     */
    TextContext as(ai.djl.ndarray.types.DataType dtype) {
        if (hidden.getDataType() == dtype) {
            return this;
        }
        return converted.computeIfAbsent(dtype, t -> new TextContext(hidden.toType(t, false)));
    }
}
