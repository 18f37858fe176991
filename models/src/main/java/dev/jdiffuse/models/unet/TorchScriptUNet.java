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

import java.util.List;
import java.util.Map;

/**
 * A {@link UNet2DConditionModel} forward as one TorchScript call ({@link UNetScriptSource}): about a thousand ops run
 * inside libtorch's interpreter instead of one JNI call each, so a forward costs a handful of JNI calls (the inputs'
 * IValues, the call, the output). The weights go to the script as one list IValue ({@link ScriptWeights}: built
 * once, rebuilt only when a parameter's array has been replaced, e.g. by LoRA patching through
 * {@link Parameter#replace}); the cross-attention keys and values of a text context are projected once per weight
 * list and context and kept in its {@link TextContext}. Calls run through {@link ScriptModules#run} (no profiling
 * graph executor unless {@code -Djdiffuse.scripted.optimize=true}).
 */
final class TorchScriptUNet {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;
    private final int skips;
    private final boolean textTime;

    private TorchScriptUNet(PtSymbolBlock module, ScriptWeights weights, int skips, boolean textTime) {
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
    static TorchScriptUNet create(UNet2DConditionModel model, NDManager owner) {
        Map<String, Parameter> named = model.namedParameters();
        UNetScriptSource source = UNetScriptSource.of(model.config(), named.keySet());
        PtSymbolBlock module = ScriptModules.load(UNetScriptSource.CLASS, source.code());
        return new TorchScriptUNet(module, weights(source, named, model.layout(), owner), source.skips(),
                model.layout().textTime());
    }

    /** The script's weight list: the parameters in {@code source}'s order, SDXL's time-id frequencies made here. */
    static ScriptWeights weights(UNetScriptSource source, Map<String, Parameter> named, EncoderLayout layout,
            NDManager owner) {
        List<String> names = source.weightNames();
        Parameter[] params = new Parameter[names.size()];
        NDArray[] constants = new NDArray[names.size()];
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (UNetScriptSource.TIME_ID_FREQS.equals(n)) {
                constants[i] = new TimeIdFeatures(layout.additionTimeEmbedDim(), layout.flipSinToCos(),
                        layout.freqShift()).freqs(owner.getDevice());
            } else {
                params[i] = named.get(n);
            }
        }
        return new ScriptWeights(params, constants, owner);
    }

    /** SDXL's {@code [text_embeds, time_ids]} when the model has text_time, else none. */
    static PtNDArray[] addInputs(boolean textTime, UNetExtras extras) {
        return textTime ? new PtNDArray[] {(PtNDArray) extras.textEmbeds(), (PtNDArray) extras.timeIds()}
                : new PtNDArray[0];
    }

    /** The context's projected keys and values for the weights of {@code w}, made once per context and weights. */
    static PtNDArray[] keysAndValues(PtSymbolBlock module, TextContext context, ScriptWeights.Lease w) {
        NDArray[] kv = context.projectedBy(w, c -> project(module, c, w));
        PtNDArray[] kvs = new PtNDArray[kv.length];
        for (int i = 0; i < kv.length; i++) {
            kvs[i] = (PtNDArray) kv[i];
        }
        return kvs;
    }

    /**
     * @param x the sample [B, C, H, W]
     * @param timeFeatures sinusoidal timestep features [B, c0] float32
     * @return [B, out_channels, H, W] in the weights' dtype, in the sample's manager
     */
    NDArray forward(NDArray x, NDArray timeFeatures, TextContext context, UNetExtras extras) {
        PtNDManager manager = (PtNDManager) x.getManager();
        PtNDArray[] add = addInputs(textTime, extras);
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
        ScriptWeights.Lease w = weights.acquire();
        try {
            PtNDArray[] kvs = keysAndValues(module, context, w);
            try (IValue ix = IValue.from((PtNDArray) x); IValue it = IValue.from((PtNDArray) timeFeatures);
                    IValue ikv = IValue.listFrom(kvs); IValue iadd = IValue.listFrom(add);
                    IValue ires = IValue.listFrom(res);
                    IValue out = ScriptModules.run(module, "forward", ix, it, ikv, w.list(), iadd, ires)) {
                return out.toTensor(manager);
            }
        } finally {
            weights.release(w);
        }
    }

    /** The context's keys and values of every cross-attention layer, in the context's manager. */
    private static NDArray[] project(PtSymbolBlock module, NDArray context, ScriptWeights.Lease w) {
        try (IValue ic = IValue.from((PtNDArray) context);
                IValue out = ScriptModules.run(module, "project", ic, w.list())) {
            return out.toTensorArray((PtNDManager) context.getManager());
        }
    }
}
