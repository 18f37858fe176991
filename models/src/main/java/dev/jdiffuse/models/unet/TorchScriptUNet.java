package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.IValue;

import java.util.List;

/**
 * A {@link UNet2DConditionModel} forward as one TorchScript call ({@link UNetScriptSource}): about a thousand ops run
 * inside libtorch's interpreter instead of one JNI call each, so a forward costs a handful of JNI calls (the inputs'
 * IValues, the call, the output). Weights, text-context projections and the call: {@link EncoderScript}.
 */
final class TorchScriptUNet {

    private final EncoderScript script;

    private TorchScriptUNet(EncoderScript script) {
        this.script = script;
    }

    /**
     * Generates and compiles the script of {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the model has something the generator does not write or the script does not
     *     compile; the caller keeps the composite forward
     */
    static TorchScriptUNet create(UNet2DConditionModel model, NDManager owner) {
        UNetScriptSource source = UNetScriptSource.of(model.config(), model.namedParameters().keySet());
        return new TorchScriptUNet(EncoderScript.load(UNetScriptSource.CLASS, source, model, owner, true));
    }

    /**
     * @param x the sample [B, C, H, W]
     * @param timeFeatures sinusoidal timestep features [B, c0] float32
     * @return [B, out_channels, H, W] in the weights' dtype, in the sample's manager
     */
    NDArray forward(NDArray x, NDArray timeFeatures, TextContext context, UNetExtras extras) {
        int skips = script.skips();
        PtNDArray[] res = new PtNDArray[0];
        if (extras.hasControl()) {
            List<NDArray> down = extras.downBlockAdditionalResiduals();
            if (down.size() != skips) {
                throw new IllegalArgumentException(down.size() + " down-block residuals given, the UNet has "
                        + skips + " skip connections");
            }
            res = new PtNDArray[skips + 1];
            for (int i = 0; i < skips; i++) {
                res[i] = (PtNDArray) down.get(i);
            }
            res[skips] = (PtNDArray) extras.midBlockAdditionalResidual();
        }
        String resKey = res.length == 0 ? "no residuals" : res.length + " residuals " + res[0].getDataType();
        try (IValue ires = IValue.listFrom(res)) {
            return script.forwardTensor(x, timeFeatures, context, extras, resKey, ires);
        }
    }
}
