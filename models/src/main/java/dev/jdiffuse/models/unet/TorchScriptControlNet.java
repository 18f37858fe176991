package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;

import java.util.Arrays;

/**
 * A {@link ControlNetModel} forward as one TorchScript call ({@link UNetScriptSource#ofControlNet}): the UNet's
 * encoder with the control image's embedding and the zero convolutions, several hundred ops inside libtorch's
 * interpreter instead of one JNI call each. Weights, text-context projections and the call: {@link EncoderScript}.
 */
final class TorchScriptControlNet {

    private final EncoderScript script;

    private TorchScriptControlNet(EncoderScript script) {
        this.script = script;
    }

    /**
     * Generates and compiles the script of {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the model has something the generator does not write or the script does not
     *     compile; the caller keeps the composite forward
     */
    static TorchScriptControlNet create(ControlNetModel model, NDManager owner) {
        UNetScriptSource source = UNetScriptSource.ofControlNet(model.config(), model.namedParameters().keySet());
        return new TorchScriptControlNet(EncoderScript.load(UNetScriptSource.CONTROLNET_CLASS, source, model, owner,
                false));
    }

    /**
     * @param x the sample [B, C, H, W]
     * @param timeFeatures sinusoidal timestep features [B, c0] float32
     * @param cond the control image [B, conditioning_channels, 8H, 8W] in the model's channel order
     * @return one residual per skip connection and the mid block's, times {@code scale}, in the sample's manager
     */
    ControlNetOutput forward(NDArray x, NDArray timeFeatures, TextContext context, NDArray cond, float scale,
            UNetExtras extras) {
        int skips = script.skips();
        PtNDManager manager = (PtNDManager) x.getManager();
        try (IValue ic = IValue.from((PtNDArray) cond); IValue is = IValue.from((double) scale)) {
            NDArray[] r = script.forward(x, timeFeatures, context, extras, out -> out.toTensorArray(manager), ic, is);
            if (r.length != skips + 1) {
                throw new IllegalStateException(r.length + " residuals from the script, expected " + (skips + 1));
            }
            return new ControlNetOutput(Arrays.asList(r).subList(0, skips), r[skips]);
        }
    }
}
