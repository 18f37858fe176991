package dev.jdiffuse.models.nn;

import ai.djl.ndarray.NDArray;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;
import static dev.jdiffuse.samplers.nd.ScalarOps.pow;

/** Element-wise activations, each spelled as its reference defines it. */
public final class Activations {

    private static final double SQRT_2_OVER_PI = Math.sqrt(2.0 / Math.PI);

    private Activations() {
    }

    /** SiLU / swish: {@code x * sigmoid(x)} (Hendrycks and Gimpel 2016; Ramachandran et al. 2017). */
    public static NDArray silu(NDArray x) {
        return x.mul(x.getNDArrayInternal().sigmoid());
    }

    /** Exact GELU, {@code x * Phi(x)} with the error function (PyTorch's default, HF "gelu"). */
    public static NDArray gelu(NDArray x) {
        return x.getNDArrayInternal().gelu();
    }

    /** GELU with the tanh approximation (HF "gelu_pytorch_tanh", diffusers "gelu-approximate"). */
    public static NDArray geluTanh(NDArray x) {
        if (FusedOps.hasGeluTanh()) {
            return FusedOps.geluTanh(x);
        }
        NDArray inner = mul(mul(pow(x, 3), 0.044715f).add(x), (float) SQRT_2_OVER_PI);
        return mul(x, 0.5f).mul(add(inner.tanh(), 1f));
    }

    /** CLIP's quick GELU: {@code x * sigmoid(1.702 x)}. */
    public static NDArray quickGelu(NDArray x) {
        return x.mul(mul(x, 1.702f).getNDArrayInternal().sigmoid());
    }

    /** Applies an activation by its config name (transformers' {@code hidden_act}, diffusers' {@code act_fn}). */
    public static NDArray byName(String name, NDArray x) {
        return switch (name) {
            case "silu", "swish" -> silu(x);
            case "gelu" -> gelu(x);
            case "gelu_pytorch_tanh", "gelu_new", "gelu-approximate" -> geluTanh(x);
            case "quick_gelu" -> quickGelu(x);
            case "relu" -> x.getNDArrayInternal().relu();
            default -> throw new IllegalArgumentException("unsupported activation: " + name);
        };
    }

    /** Whether {@link #byName} knows {@code name}; configs are validated with it at load time. */
    public static boolean isSupported(String name) {
        return java.util.Set.of("silu", "swish", "gelu", "gelu_pytorch_tanh", "gelu_new", "gelu-approximate",
                "quick_gelu", "relu").contains(name);
    }
}
