package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * Forward passes that keep only what is still needed. At 1024x1024 one block's intermediates (attention scores, a VAE
 * activation) are hundreds of MiB, so a step that kept them in the caller's manager until it closes would need tens
 * of GiB. {@link #run} runs a block in a temporary sub-manager, freed as soon as the block returns: the inputs are
 * attached to the scope for the call (ops on them land there) and go back to their managers afterwards; the outputs
 * move to the first input's manager. {@link #chain} runs steps in sequence and also frees each step's output once
 * the next step has consumed it. The inputs themselves are never closed.
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
    public static NDArray run(NDList inputs, Supplier<NDArray> block) {
        return run(inputs, i -> new NDList(block.get())).singletonOrThrow();
    }

    /** {@link #run} for a step with one input and one output. */
    public static NDArray apply(NDArray x, UnaryOperator<NDArray> step) {
        return run(new NDList(x), () -> step.apply(x));
    }

    /** {@code steps} in order, each {@linkplain #apply scoped}; an intermediate output is freed once consumed. */
    public static NDArray chain(NDArray x, List<UnaryOperator<NDArray>> steps) {
        NDArray current = x;
        for (UnaryOperator<NDArray> step : steps) {
            NDArray next = apply(current, step);
            if (current != x && next != current) {
                current.close();
            }
            current = next;
        }
        return current;
    }
}
