package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Fills a {@link Module} tree from a {@link StateDict} whose keys are already in the module's naming. Checks the
 * whole checkpoint before reading any value, and fails listing every missing, unexpected and mis-shaped key.
 */
public final class WeightLoader {

    private WeightLoader() {
    }

    public static void load(Module root, StateDict weights, NDManager manager, DataType dtype, String what) {
        load(root, weights, manager, dtype, what, k -> false);
    }

    /**
     * @param ignorable checkpoint keys that may be present without a parameter (e.g. transformers' saved
     *     {@code position_ids} buffer)
     */
    public static void load(Module root, StateDict weights, NDManager manager, DataType dtype, String what,
            Predicate<String> ignorable) {
        Map<String, Parameter> params = root.namedParameters();
        List<String> missing = new ArrayList<>();
        List<String> wrongShape = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            if (!weights.keys().contains(e.getKey())) {
                missing.add(e.getKey());
            } else {
                Shape got = new Shape(weights.shape(e.getKey()));
                if (!got.equals(e.getValue().shape())) {
                    wrongShape.add(e.getKey() + " " + got + " (expected " + e.getValue().shape() + ")");
                }
            }
        }
        List<String> unexpected = new ArrayList<>();
        for (String k : weights.keys()) {
            if (!params.containsKey(k) && !ignorable.test(k)) {
                unexpected.add(k);
            }
        }
        if (!missing.isEmpty() || !unexpected.isEmpty() || !wrongShape.isEmpty()) {
            throw new WeightMismatchException(what, missing, unexpected, wrongShape);
        }
        for (Map.Entry<String, Parameter> e : params.entrySet()) {
            NDArray v = weights.load(e.getKey(), manager, dtype);
            e.getValue().set(v);
        }
    }
}
