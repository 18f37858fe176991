package dev.jdiffuse.models.transformer;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

import java.util.Set;

/**
 * The transformer MLP of diffusers' {@code FeedForward} with a plain (non-gated) GELU: {@code net.2(gelu(net.0.proj(x)))}
 * (Vaswani et al. 2017, eq. 2; Hendrycks and Gimpel 2016). {@code net.1} is dropout and has no weights.
 * Shape: [B, L, dim] -> [B, L, dimOut], hidden width {@code innerDim} (4 dim by default).
 */
public final class FeedForward extends Module {

    /** The activations this block supports: "gelu" (exact) and "gelu-approximate" (tanh). */
    public static final Set<String> ACTIVATIONS = Set.of("gelu", "gelu-approximate");

    private final Linear proj;
    private final Linear out;
    private final String activation;

    public FeedForward(long dim, long dimOut, long innerDim, String activation, boolean bias) {
        if (!ACTIVATIONS.contains(activation)) {
            throw new IllegalArgumentException("unsupported feed-forward activation " + activation);
        }
        Net net = child("net", new Net(dim, dimOut, innerDim, bias));
        this.proj = net.gelu.proj;
        this.out = net.out;
        this.activation = activation;
    }

    /** {@code FeedForward(dim, dim_out=dim, activation_fn="gelu-approximate")} as SD3 builds it. */
    public static FeedForward geluTanh(long dim) {
        return new FeedForward(dim, dim, 4 * dim, "gelu-approximate", true);
    }

    public NDArray forward(NDArray x) {
        return out.forward(Activations.byName(activation, proj.forward(x)));
    }

    /** {@code net}: index 0 the projecting GELU, index 2 the output linear (index 1, dropout, has no weights). */
    private static final class Net extends Module {
        private final Gelu gelu;
        private final Linear out;

        Net(long dim, long dimOut, long innerDim, boolean bias) {
            this.gelu = child("0", new Gelu(dim, innerDim, bias));
            this.out = child("2", new Linear(innerDim, dimOut, bias));
        }
    }

    /** diffusers' {@code GELU} module: a linear {@code proj} followed by the activation. */
    private static final class Gelu extends Module {
        private final Linear proj;

        Gelu(long in, long out, boolean bias) {
            this.proj = child("proj", new Linear(in, out, bias));
        }
    }
}
