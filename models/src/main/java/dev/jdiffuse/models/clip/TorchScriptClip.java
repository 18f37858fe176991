package dev.jdiffuse.models.clip;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.ScriptModules;
import dev.jdiffuse.models.nn.ScriptWeights;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A {@link ClipTextModel} forward as one TorchScript call ({@link ClipScriptSource}): the ~15 ops per layer (about
 * 190 for CLIP-L, 500 for OpenCLIP bigG) run inside libtorch's interpreter instead of one JNI call each, so an
 * encoding costs a handful of JNI calls (the ids' IValue, the call, the outputs). The weights go to the script as one
 * list ({@link ScriptWeights}), rebuilt when text-encoder LoRA patching replaces an array.
 */
final class TorchScriptClip {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;
    private final int leading;

    private TorchScriptClip(PtSymbolBlock module, ScriptWeights weights, int leading) {
        this.module = module;
        this.weights = weights;
        this.leading = leading;
    }

    /**
     * Generates and compiles the script of {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the model has something the generator does not write or the script does not
     *     compile; the caller keeps the op-by-op forward
     */
    static TorchScriptClip create(ClipTextModel model, NDManager owner) {
        Map<String, Parameter> named = model.namedParameters();
        ClipScriptSource source = ClipScriptSource.of(model.config(), named.keySet());
        PtSymbolBlock module = ScriptModules.load(ClipScriptSource.CLASS, source.code());
        return new TorchScriptClip(module, ScriptWeights.of(named, source.weightNames(), owner), source.leading());
    }

    /**
     * @param ids int64 [B, L] on the weights' device
     * @return every output of {@link ClipTextOutput}, in {@code ids}' manager
     */
    ClipTextOutput encode(NDArray ids) {
        NDArray[] out;
        ScriptWeights.Lease w = weights.acquire();
        try (IValue in = IValue.from((PtNDArray) ids);
                IValue result = ScriptModules.run(module, "forward", in, w.list())) {
            out = result.toTensorArray((PtNDManager) ids.getManager());
        } finally {
            weights.release(w);
        }
        List<NDArray> hidden = List.of(Arrays.copyOfRange(out, leading, out.length));
        return new ClipTextOutput(out[0], hidden, out[1], leading > 2 ? out[2] : null);
    }
}
