package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.ScriptModules;

import java.util.List;
import java.util.Map;

/**
 * A {@link UNet2DConditionModel} forward as one TorchScript call ({@link UNetScriptSource}): about a thousand ops run
 * inside libtorch's interpreter instead of one JNI call each, so a forward costs a handful of JNI calls (the inputs'
 * IValues, the call, the output). The weights go to the script as one list IValue, built once and rebuilt only when
 * a parameter's array has been replaced (LoRA patching swaps arrays, {@link Parameter#replace}); the cross-attention
 * keys and values of a text context are projected once per context and kept in its {@link TextContext}.
 *
 * <p>The weight list holds references to the weight tensors, so it is attached to the manager the model was loaded
 * into (closed with it); a list superseded by a LoRA change is closed as soon as no forward uses it.
 */
final class TorchScriptUNet {

    /**
     * Whether the script runs under libtorch's profiling graph executor optimisations (shape specialisation, kernel
     * fusion, re-profiling whenever a new input shape comes); off unless {@code -Djdiffuse.scripted.optimize=true},
     * switched on the calling thread only for the duration of the call (the setting is thread-local in libtorch).
     * Off by default because a server meets new shapes all the time (every new number of jobs sharing a forward is
     * one) and each costs a re-profiling: measured on an H200 (issue 13, session 5 run 2, SD 1.5 fp16), the first
     * burst of 4 concurrent jobs took 7.9 s with the optimisations and 3.4 s without, while a forward of a shape seen
     * before took the same either way (batch 2: 15.3 / 15.5 ms; batch 32: 99.8 / 102.1 ms).
     */
    private static final boolean OPTIMIZE = Boolean.parseBoolean(System.getProperty("jdiffuse.scripted.optimize",
            "false"));
    /** What DJL left the setting at (its own property), restored after an unoptimised call. */
    private static final boolean DJL_OPTIMIZE = Boolean.parseBoolean(System.getProperty(
            "ai.djl.pytorch.graph_optimizer", "true"));

    private final PtSymbolBlock module;
    private final Parameter[] params;
    private final NDArray[] constants;
    private final NDManager owner;
    private final int skips;
    private final boolean textTime;
    private Weights current;

    private TorchScriptUNet(PtSymbolBlock module, Parameter[] params, NDArray[] constants, NDManager owner,
            int skips, boolean textTime) {
        this.module = module;
        this.params = params;
        this.constants = constants;
        this.owner = owner;
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
        UNet2DConditionConfig config = model.config();
        Map<String, Parameter> named = model.namedParameters();
        UNetScriptSource source = UNetScriptSource.of(config, named.keySet());
        PtSymbolBlock module = ScriptModules.load(UNetScriptSource.CLASS, source.code());
        List<String> names = source.weightNames();
        Parameter[] params = new Parameter[names.size()];
        NDArray[] constants = new NDArray[names.size()];
        for (int i = 0; i < names.size(); i++) {
            String n = names.get(i);
            if (UNetScriptSource.TIME_ID_FREQS.equals(n)) {
                constants[i] = new TimeIdFeatures(config.additionTimeEmbedDim(), config.flipSinToCos(),
                        config.freqShift()).freqs(owner.getDevice());
            } else {
                params[i] = named.get(n);
            }
        }
        return new TorchScriptUNet(module, params, constants, owner, source.skips(), config.isTextTime());
    }

    /**
     * @param x the sample [B, C, H, W]
     * @param timeFeatures sinusoidal timestep features [B, c0] float32
     * @return [B, out_channels, H, W] in the weights' dtype, in the sample's manager
     */
    NDArray forward(NDArray x, NDArray timeFeatures, TextContext context, UNetExtras extras) {
        PtNDManager manager = (PtNDManager) x.getManager();
        PtNDArray[] add = new PtNDArray[0];
        if (textTime) {
            add = new PtNDArray[] {(PtNDArray) extras.textEmbeds(), (PtNDArray) extras.timeIds()};
        }
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
        Weights w = acquire();
        try {
            NDArray[] kv = context.projectedBy(w, c -> project(c, w));
            PtNDArray[] kvs = new PtNDArray[kv.length];
            for (int i = 0; i < kv.length; i++) {
                kvs[i] = (PtNDArray) kv[i];
            }
            try (IValue ix = IValue.from((PtNDArray) x); IValue it = IValue.from((PtNDArray) timeFeatures);
                    IValue ikv = IValue.listFrom(kvs); IValue iadd = IValue.listFrom(add);
                    IValue ires = IValue.listFrom(res);
                    IValue out = call("forward", ix, it, ikv, w.list, iadd, ires)) {
                return out.toTensor(manager);
            }
        } finally {
            release(w);
        }
    }

    /** The context's keys and values of every cross-attention layer, in the context's manager. */
    private NDArray[] project(NDArray context, Weights w) {
        try (IValue ic = IValue.from((PtNDArray) context);
                IValue out = call("project", ic, w.list)) {
            return out.toTensorArray((PtNDManager) context.getManager());
        }
    }

    private IValue call(String method, IValue... args) {
        if (OPTIMIZE) {
            return IValueUtils.runMethod(module, method, args);
        }
        JniUtils.setGraphExecutorOptimize(false);
        try {
            return IValueUtils.runMethod(module, method, args);
        } finally {
            JniUtils.setGraphExecutorOptimize(DJL_OPTIMIZE);
        }
    }

    private synchronized Weights acquire() {
        Weights w = current;
        if (w == null || !w.matches(params)) {
            if (w != null) {
                w.superseded = true;
                w.closeIfUnused();
            }
            w = new Weights(params, constants, owner);
            current = w;
        }
        w.users++;
        return w;
    }

    private synchronized void release(Weights w) {
        w.users--;
        w.closeIfUnused();
    }

    /** One weight list IValue and the arrays it was made of. Guarded by the TorchScriptUNet's monitor. */
    private static final class Weights {
        private final NDArray[] arrays;
        private final IValue list;
        private final NDManager owner;
        private int users;
        private boolean superseded;

        Weights(Parameter[] params, NDArray[] constants, NDManager owner) {
            this.arrays = new NDArray[params.length];
            PtNDArray[] pt = new PtNDArray[params.length];
            for (int i = 0; i < params.length; i++) {
                arrays[i] = params[i] != null ? params[i].get() : constants[i];
                pt[i] = (PtNDArray) arrays[i];
            }
            this.list = IValue.listFrom(pt);
            this.owner = owner;
            owner.attachInternal(list.getUid(), list);
        }

        boolean matches(Parameter[] params) {
            for (int i = 0; i < params.length; i++) {
                if (params[i] != null && params[i].get() != arrays[i]) {
                    return false;
                }
            }
            return !list.isReleased();
        }

        void closeIfUnused() {
            if (superseded && users == 0 && !list.isReleased()) {
                owner.detachInternal(list.getUid());
                list.close();
            }
        }
    }
}
