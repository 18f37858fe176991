package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.function.Function;

/**
 * Runs one block of a forward pass in a temporary sub-manager so its intermediates (attention scores of hundreds of
 * MiB at 1024x1024) are freed as soon as the block returns, not when the whole step ends. The inputs are attached to
 * the scope for the call (ops on them land there) and go back to their managers afterwards; the outputs move to the
 * first input's manager.
 */
public final class Scopes {

    private Scopes() {
    }

    public static NDList run(NDList inputs, Function<NDList, NDList> block) {
        NDManager outer = inputs.get(0).getManager();
        Set<NDArray> in = Collections.newSetFromMap(new IdentityHashMap<>());
        in.addAll(inputs);
        try (NDManager scope = outer.newSubManager()) {
            for (NDArray a : inputs) {
                a.tempAttach(scope);
            }
            NDList out = block.apply(inputs);
            for (NDArray o : out) {
                if (!in.contains(o)) {
                    o.attach(outer);
                }
            }
            return out;
        }
    }

    /** {@link #run} for a block with one output. */
    public static NDArray run(NDList inputs, java.util.function.Supplier<NDArray> block) {
        return run(inputs, i -> new NDList(block.get())).singletonOrThrow();
    }
}
