package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.ScriptModules;
import dev.jdiffuse.models.nn.ScriptWeights;

import java.util.Map;

/**
 * A {@link FluxTransformer2DModel} forward as one TorchScript call ({@link FluxScriptSource}): FLUX.1's 19 + 38 blocks
 * are some four thousand ops, each a JNI call with its array bookkeeping on the op-by-op path, which made the host
 * the bottleneck (H200, FLUX.1-dev at 1024x1024: the op-by-op forward's host submit time was its whole step time).
 * Inside libtorch's interpreter the same ops cost a few microseconds each. The weights go to the script as one list
 * ({@link ScriptWeights}: rebuilt when LoRA patching replaced a parameter's array). Calls run through
 * {@link ScriptModules#run}.
 */
final class TorchScriptFlux {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;

    private TorchScriptFlux(PtSymbolBlock module, ScriptWeights weights) {
        this.module = module;
        this.weights = weights;
    }

    /**
     * Generates and compiles the script of {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the model has parameters the generator does not read or the script does not
     *     compile; the caller keeps the composite forward
     */
    static TorchScriptFlux create(FluxTransformer2DModel model, NDManager owner) {
        Map<String, Parameter> named = model.namedParameters();
        FluxScriptSource source = FluxScriptSource.of(model.config(), named.keySet());
        PtSymbolBlock module = ScriptModules.load(FluxScriptSource.CLASS, source.code());
        return new TorchScriptFlux(module, ScriptWeights.of(named, source.weightNames(), owner));
    }

    /**
     * @param tokens packed latents [B, N, in_channels]
     * @param context T5 context [B, Lc, joint_attention_dim]
     * @param pooled pooled CLIP text [B, P]
     * @param timeFeatures the timesteps' sinusoid [B, 256] float32 (host or device)
     * @param guidanceFeatures the guidance's sinusoid [B, 256] float32, or null without a guidance embedder
     * @param rope the cos and sin tables [1, Lc + N, 1, head_dim]
     * @return the image tokens' velocity [B, N, out] in the weights' dtype, in the tokens' manager
     */
    NDArray forward(NDArray tokens, NDArray context, NDArray pooled, NDArray timeFeatures, NDArray guidanceFeatures,
            NDList rope) {
        PtNDArray[] g = guidanceFeatures == null ? new PtNDArray[0] : new PtNDArray[] {(PtNDArray) guidanceFeatures};
        ScriptWeights.Lease w = weights.acquire();
        try (IValue it = IValue.from((PtNDArray) tokens); IValue ic = IValue.from((PtNDArray) context);
                IValue ip = IValue.from((PtNDArray) pooled); IValue itf = IValue.from((PtNDArray) timeFeatures);
                IValue igf = IValue.listFrom(g); IValue icos = IValue.from((PtNDArray) rope.get(0));
                IValue isin = IValue.from((PtNDArray) rope.get(1));
                IValue out = ScriptModules.run(module, "forward", it, ic, ip, itf, igf, icos, isin, w.list())) {
            return out.toTensor((PtNDManager) tokens.getManager());
        } finally {
            weights.release(w);
        }
    }
}
