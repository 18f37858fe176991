package dev.jdiffuse.models.sd3;

import ai.djl.ndarray.NDArray;
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
 * A {@link SD3Transformer2DModel} forward as one TorchScript call ({@link SD3ScriptSource}): the MMDiT's blocks are
 * some sixty ops each, one JNI call apiece on the op-by-op path, whose host time was most of a step on an H100 (SD 3
 * medium at 1024x1024, batch 2: host submit 59.7 of 62.5 ms). Weights go to the script as one list
 * ({@link ScriptWeights}: rebuilt when LoRA patching replaced a parameter's array); calls run through
 * {@link ScriptModules#run}.
 */
final class TorchScriptSD3 {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;

    private TorchScriptSD3(PtSymbolBlock module, ScriptWeights weights) {
        this.module = module;
        this.weights = weights;
    }

    /**
     * Generates and compiles the script of {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the model has parameters the generator does not read or the script does not
     *     compile; the caller keeps the composite forward
     */
    static TorchScriptSD3 create(SD3Transformer2DModel model, NDManager owner) {
        Map<String, Parameter> named = model.namedParameters();
        SD3ScriptSource source = SD3ScriptSource.of(model.config(), named.keySet());
        PtSymbolBlock module = ScriptModules.load(SD3ScriptSource.CLASS, source.code());
        return new TorchScriptSD3(module, ScriptWeights.of(named, source.weightNames(), owner));
    }

    /**
     * @param x latents [B, in_channels, H, W]
     * @param context text context [B, L, joint_attention_dim]
     * @param pooled pooled text [B, P]
     * @param timeFeatures the timesteps' sinusoid [B, 256] float32 (host or device)
     * @param positions the cropped positions [1, (H/p)(W/p), D] in the weights' dtype
     * @return [B, out_channels, H, W] in the weights' dtype, in the latents' manager
     */
    NDArray forward(NDArray x, NDArray context, NDArray pooled, NDArray timeFeatures, NDArray positions) {
        ScriptWeights.Lease w = weights.acquire();
        try (IValue ix = IValue.from((PtNDArray) x); IValue ic = IValue.from((PtNDArray) context);
                IValue ip = IValue.from((PtNDArray) pooled); IValue itf = IValue.from((PtNDArray) timeFeatures);
                IValue ipos = IValue.from((PtNDArray) positions);
                IValue out = ScriptModules.run(module, "forward", ix, ic, ip, itf, ipos, w.list())) {
            return out.toTensor((PtNDManager) x.getManager());
        } finally {
            weights.release(w);
        }
    }
}
