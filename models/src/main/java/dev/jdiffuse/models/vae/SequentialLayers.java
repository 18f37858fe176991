package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Scopes;

import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * PyTorch's {@code nn.Sequential} for layers of mixed kinds: entries are numbered {@code 0, 1, ...} in order;
 * parameter-free entries (activations, upsampling) take an index but declare no weights, as in a state dict.
 */
final class SequentialLayers extends Module {

    private final List<UnaryOperator<NDArray>> steps = new ArrayList<>();

    /** Appends a module with weights, applied by {@code forward}. */
    <M extends Module> M add(M module, UnaryOperator<NDArray> forward) {
        child(Integer.toString(steps.size()), module);
        steps.add(forward);
        return module;
    }

    /** Appends a parameter-free step. */
    void add(UnaryOperator<NDArray> step) {
        steps.add(step);
    }

    NDArray forward(NDArray x) {
        return Scopes.chain(x, steps);
    }
}
