package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/** A named weight slot of a {@link Module}: the shape the architecture expects and, once loaded, its value. */
public final class Parameter {

    private final Shape shape;
    private NDArray value;
    /** What the loader set: {@link #replace} swaps {@link #value} only, so a patched parameter can be told apart. */
    private NDArray loaded;
    private final Map<List<Long>, NDArray> views = new ConcurrentHashMap<>();

    Parameter(Shape shape) {
        this.shape = shape;
    }

    /** The shape the module's config implies; loading checks the checkpoint against it. */
    public Shape shape() {
        return shape;
    }

    /** The loaded value; throws if the module was never loaded. */
    public NDArray get() {
        if (value == null) {
            throw new IllegalStateException("parameter of shape " + shape + " was not loaded");
        }
        return value;
    }

    /**
     * The value reshaped to {@code shape} (e.g. a bias as [1, C, 1, 1] for broadcasting), made once and kept with the
     * weight, so forward passes create no arrays in the weights' manager.
     */
    public NDArray view(long... shape) {
        NDArray v = get();
        return views.computeIfAbsent(java.util.Arrays.stream(shape).boxed().toList(), k -> v.reshape(shape));
    }

    /**
     * Replaces the value by one of the same shape and returns the previous one, which the caller keeps: weight patches
     * (LoRA) swap a patched copy in and put the very same base array back afterwards, so the base is restored
     * exactly, never recomputed.
     */
    public NDArray replace(NDArray value) {
        NDArray previous = get();
        requireShape(value);
        this.value = value;
        views.clear();
        return previous;
    }

    /**
     * Whether the value is the very array the loader set (no patch swapped in, or the base put back): what a CUDA
     * graph of the model's forward may read ({@link CudaGraphCache}).
     */
    public boolean isAsLoaded() {
        return value != null && value == loaded;
    }

    void set(NDArray value) {
        requireShape(value);
        this.value = value;
        this.loaded = value;
        views.clear();
    }

    private void requireShape(NDArray value) {
        if (!value.getShape().equals(shape)) {
            throw new IllegalArgumentException("shape " + value.getShape() + " does not fit parameter " + shape);
        }
    }
}
