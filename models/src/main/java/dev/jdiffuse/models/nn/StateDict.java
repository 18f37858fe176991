package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Named tensors of a checkpoint, read lazily: keys and shapes come from the file header, values are materialised
 * only by {@link #load}.
 */
public interface StateDict {

    Set<String> keys();

    long[] shape(String key);

    /** Reads {@code key} into {@code manager} (its device) converted to {@code dtype}. */
    NDArray load(String key, NDManager manager, DataType dtype);

    /**
     * A view whose keys are renamed by {@code table} (one table per model family, e.g. original LDM names to
     * diffusers names); keys the table maps to {@code null} are left out of the view.
     */
    default StateDict renamed(Function<String, String> table) {
        StateDict base = this;
        Map<String, String> toBase = new LinkedHashMap<>();
        for (String k : base.keys()) {
            String n = table.apply(k);
            if (n != null) {
                String prev = toBase.putIfAbsent(n, k);
                if (prev != null) {
                    throw new IllegalArgumentException("keys " + prev + " and " + k + " both map to " + n);
                }
            }
        }
        return of(toBase.keySet(), key -> base.shape(toBase.get(key)),
                (key, manager, dtype) -> base.load(toBase.get(key), manager, dtype));
    }

    /** How {@link #load} reads one key. */
    @FunctionalInterface
    interface Loader {
        NDArray load(String key, NDManager manager, DataType dtype);
    }

    /** A state dict of {@code keys} whose shapes and values come from the given functions. */
    static StateDict of(Set<String> keys, Function<String, long[]> shape, Loader loader) {
        return new StateDict() {
            @Override
            public Set<String> keys() {
                return keys;
            }

            @Override
            public long[] shape(String key) {
                return shape.apply(key);
            }

            @Override
            public NDArray load(String key, NDManager manager, DataType dtype) {
                return loader.load(key, manager, dtype);
            }
        };
    }
}
