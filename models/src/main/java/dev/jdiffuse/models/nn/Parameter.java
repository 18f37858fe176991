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
        set(value);
        return previous;
    }

    void set(NDArray value) {
        if (!value.getShape().equals(shape)) {
            throw new IllegalArgumentException("shape " + value.getShape() + " does not fit parameter " + shape);
        }
        this.value = value;
        views.clear();
    }
}
