package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.List;
import java.util.function.UnaryOperator;

/**
 * Forward passes that keep only what is still needed. At 1024x1024 one VAE activation is hundreds of MiB, so a
 * decode that kept every intermediate in the caller's manager until it closes would need tens of GiB.
 * {@link #apply} runs a step in a temporary sub-manager (its intermediates are freed when it returns);
 * {@link #chain} runs steps in sequence and also frees each step's output once the next step has consumed it.
 * Only the final output stays, in the input's manager; the input itself is never closed.
 */
final class Scoped {

    private Scoped() {
    }

    static NDArray apply(NDArray x, UnaryOperator<NDArray> step) {
        NDManager outer = x.getManager();
        try (NDManager scope = outer.newSubManager()) {
            x.tempAttach(scope);
            NDArray y = step.apply(x);
            if (y != x) {
                y.attach(outer);
            }
            return y;
        }
    }

    static NDArray chain(NDArray x, List<UnaryOperator<NDArray>> steps) {
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
