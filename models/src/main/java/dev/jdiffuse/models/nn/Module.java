package dev.jdiffuse.models.nn;

import ai.djl.ndarray.types.Shape;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A tree of named parameters, mirroring PyTorch's {@code nn.Module} naming so that a diffusers or transformers
 * checkpoint key ({@code down_blocks.0.resnets.1.conv1.weight}) is the path of a parameter in this tree. The tree is
 * built from the model's config before any weight is read; {@link WeightLoader} then fills it and reports every
 * missing and unexpected key at once.
 *
 * <p>Forward methods are ordinary Java methods on the subclasses (each with its own signature); results of DJL ops
 * land in the manager of the activation they were called on, never in the weights' manager.
 */
public abstract class Module {

    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();

    /** Declares a parameter of this module with the shape the config implies. */
    protected final Parameter param(String name, long... shape) {
        Parameter p = new Parameter(new Shape(shape));
        if (params.putIfAbsent(name, p) != null || children.containsKey(name)) {
            throw new IllegalStateException("duplicate name " + name);
        }
        return p;
    }

    /** Declares a sub-module; returns it for assignment to a field. */
    protected final <M extends Module> M child(String name, M module) {
        if (children.putIfAbsent(name, module) != null || params.containsKey(name)) {
            throw new IllegalStateException("duplicate name " + name);
        }
        return module;
    }

    /** Every parameter of the tree under its dotted path, in declaration order. */
    public final Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect("", out);
        return Collections.unmodifiableMap(out);
    }

    private void collect(String prefix, Map<String, Parameter> out) {
        params.forEach((n, p) -> out.put(prefix + n, p));
        children.forEach((n, c) -> c.collect(prefix + n + ".", out));
    }

    /** Number of scalar weights in the tree. */
    public final long parameterCount() {
        return namedParameters().values().stream().mapToLong(p -> p.shape().size()).sum();
    }
}
