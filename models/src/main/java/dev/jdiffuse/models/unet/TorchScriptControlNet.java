package dev.jdiffuse.models.unet;

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
import java.util.Map;

/**
 * A {@link ControlNetModel} forward as one TorchScript call ({@link UNetScriptSource#ofControlNet}): the UNet's
 * encoder with the control image's embedding and the zero convolutions, several hundred ops inside libtorch's
 * interpreter instead of one JNI call each. Weights, the text context's projected keys and values and the call go as
 * in {@link TorchScriptUNet}.
 */
final class TorchScriptControlNet {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;
    private final int skips;
    private final boolean textTime;

    private TorchScriptControlNet(PtSymbolBlock module, ScriptWeights weights, int skips, boolean textTime) {
        this.module = module;
        this.weights = weights;
        this.skips = skips;
        this.textTime = textTime;
    }

    /**
     * Generates and compiles the script of {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the model has something the generator does not write or the script does not
     *     compile; the caller keeps the composite forward
     */
    static TorchScriptControlNet create(ControlNetModel model, NDManager owner) {
        Map<String, Parameter> named = model.namedParameters();
        UNetScriptSource source = UNetScriptSource.ofControlNet(model.config(), named.keySet());
        PtSymbolBlock module = ScriptModules.load(UNetScriptSource.CONTROLNET_CLASS, source.code());
        return new TorchScriptControlNet(module, TorchScriptUNet.weights(source, named, model.layout(), owner),
                source.skips(), model.layout().textTime());
    }

    /**
     * @param x the sample [B, C, H, W]
     * @param timeFeatures sinusoidal timestep features [B, c0] float32
     * @param cond the control image [B, conditioning_channels, 8H, 8W] in the model's channel order
     * @return one residual per skip connection and the mid block's, times {@code scale}, in the sample's manager
     */
    ControlNetOutput forward(NDArray x, NDArray timeFeatures, TextContext context, NDArray cond, float scale,
            UNetExtras extras) {
        PtNDManager manager = (PtNDManager) x.getManager();
        PtNDArray[] add = TorchScriptUNet.addInputs(textTime, extras);
        ScriptWeights.Lease w = weights.acquire();
        try {
            PtNDArray[] kvs = TorchScriptUNet.keysAndValues(module, context, w);
            try (IValue ix = IValue.from((PtNDArray) x); IValue it = IValue.from((PtNDArray) timeFeatures);
                    IValue ikv = IValue.listFrom(kvs); IValue iadd = IValue.listFrom(add);
                    IValue ic = IValue.from((PtNDArray) cond); IValue is = IValue.from((double) scale);
                    IValue out = ScriptModules.run(module, "forward", ix, it, ikv, w.list(), iadd, ic, is)) {
                NDArray[] r = out.toTensorArray(manager);
                if (r.length != skips + 1) {
                    throw new IllegalStateException(r.length + " residuals from the script, expected " + (skips + 1));
                }
                return new ControlNetOutput(Arrays.asList(r).subList(0, skips), r[skips]);
            }
        } finally {
            weights.release(w);
        }
    }
}
