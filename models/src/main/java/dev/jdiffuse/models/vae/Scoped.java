package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;

import java.util.function.UnaryOperator;

/**
 * Runs one block of a forward pass in a temporary sub-manager of the activation's manager, so the block's
 * intermediates are freed as soon as it returns and only its output survives (in the caller's manager). At
 * 1024x1024 a single VAE activation is hundreds of MiB, so without this a decode would hold every intermediate.
 */
final class Scoped {

    private Scoped() {
    }

    static NDArray apply(NDArray x, UnaryOperator<NDArray> block) {
        NDManager outer = x.getManager();
        try (NDManager scope = outer.newSubManager()) {
            x.tempAttach(scope);
            NDArray y = block.apply(x);
            if (y != x) {
                y.attach(outer);
            }
            return y;
        }
    }
}
