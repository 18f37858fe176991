package dev.jdiffuse.models.t5;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;

/**
 * transformers' {@code DenseReluDense}: {@code T5DenseGatedActDense} for "gated-gelu" (T5 v1.1, Shazeer 2020:
 * {@code wo(gelu_new(wi_0 x) * wi_1 x)}, gelu_new being the tanh approximation) or {@code T5DenseActDense} for
 * "relu" ({@code wo(relu(wi x))}). Bias-free; [B, L, d_model] -> [B, L, d_model].
 */
final class T5FeedForward extends Module {

    private final Linear wi0;
    private final Linear wi1;
    private final Linear wi;
    private final Linear wo;

    T5FeedForward(T5Config c) {
        if (c.gated()) {
            this.wi0 = child("wi_0", new Linear(c.dModel(), c.dFf(), false));
            this.wi1 = child("wi_1", new Linear(c.dModel(), c.dFf(), false));
            this.wi = null;
        } else {
            this.wi0 = null;
            this.wi1 = null;
            this.wi = child("wi", new Linear(c.dModel(), c.dFf(), false));
        }
        this.wo = child("wo", new Linear(c.dFf(), c.dModel(), false));
    }

    NDArray forward(NDArray x) {
        NDArray h = wi == null
                ? Activations.geluTanh(wi0.forward(x)).mul(wi1.forward(x))
                : wi.forward(x).getNDArrayInternal().relu();
        return wo.forward(h);
    }
}
