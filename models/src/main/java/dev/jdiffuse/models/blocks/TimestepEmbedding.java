package dev.jdiffuse.models.blocks;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/** {@code linear_2(act(linear_1(x)))}: the MLP after the sinusoidal timestep features; [B, in] -> [B, out]. */
public final class TimestepEmbedding extends Module {

    private final Linear linear1;
    private final Linear linear2;
    private final String act;

    public TimestepEmbedding(long in, long dim, long out, String act) {
        this.linear1 = child("linear_1", new Linear(in, dim, true));
        this.linear2 = child("linear_2", new Linear(dim, out, true));
        this.act = act;
    }

    public TimestepEmbedding(long in, long dim) {
        this(in, dim, dim, "silu");
    }

    public NDArray forward(NDArray x) {
        return linear2.forward(Activations.byName(act, linear1.forward(x)));
    }
}
