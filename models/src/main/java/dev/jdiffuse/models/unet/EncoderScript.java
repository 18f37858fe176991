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
import java.util.function.Function;

/**
 * What a UNet's and a ControlNet's script share ({@link UNetScriptSource}): the compiled module, its weight list
 * ({@link ScriptWeights}: built once, rebuilt only when a parameter's array has been replaced, e.g. by LoRA patching
 * through {@link Parameter#replace}), the text context's cross-attention keys and values (projected once per weight
 * list and context, kept in its {@link TextContext}), SDXL's text_time inputs, and the call of
 * {@code forward(x, tproj, kv, w, add, ...)}. Calls run through {@link ScriptModules#run} (no profiling graph executor
 * unless {@code -Djdiffuse.scripted.optimize=true}).
 */
final class EncoderScript {

    private final PtSymbolBlock module;
    private final ScriptWeights weights;
    private final int skips;
    private final boolean textTime;

    private EncoderScript(PtSymbolBlock module, ScriptWeights weights, int skips, boolean textTime) {
        this.module = module;
        this.weights = weights;
        this.skips = skips;
        this.textTime = textTime;
    }

    /**
     * Compiles {@code source} (class {@code cls}) for {@code model} (loaded into {@code owner}).
     *
     * @throws RuntimeException when the script does not compile; the caller keeps the composite forward
     */
    static EncoderScript load(String cls, UNetScriptSource source, UNetEncoderModel model, NDManager owner) {
        PtSymbolBlock module = ScriptModules.load(cls, source.code());
        return new EncoderScript(module, weights(source, model.namedParameters(), model.layout(), owner),
                source.skips(), model.layout().textTime());
    }

    /** The number of skip connections (down residuals) the encoder has. */
    int skips() {
        return skips;
    }

    /**
     * Calls {@code forward(x, tproj, kv, w, add, more...)} and reads its result before the weights are released.
     *
     * @param x the sample [B, C, H, W]
     * @param timeFeatures sinusoidal timestep features [B, c0] float32
     * @param more the model's own trailing arguments (owned by the caller)
     */
    <T> T forward(NDArray x, NDArray timeFeatures, TextContext context, UNetExtras extras,
            Function<IValue, T> read, IValue... more) {
        PtNDArray[] add = textTime ? new PtNDArray[] {(PtNDArray) extras.textEmbeds(), (PtNDArray) extras.timeIds()}
                : new PtNDArray[0];
        ScriptWeights.Lease w = weights.acquire();
        try {
            NDArray[] kv = context.projectedBy(w, c -> project(c, w));
            PtNDArray[] kvs = new PtNDArray[kv.length];
            for (int i = 0; i < kv.length; i++) {
                kvs[i] = (PtNDArray) kv[i];
            }
            try (IValue ix = IValue.from((PtNDArray) x); IValue it = IValue.from((PtNDArray) timeFeatures);
                    IValue ikv = IValue.listFrom(kvs); IValue iadd = IValue.listFrom(add)) {
                IValue[] args = new IValue[5 + more.length];
                args[0] = ix;
                args[1] = it;
                args[2] = ikv;
                args[3] = w.list();
                args[4] = iadd;
                System.arraycopy(more, 0, args, 5, more.length);
                try (IValue out = ScriptModules.run(module, "forward", args)) {
                    return read.apply(out);
                }
            }
        } finally {
            weights.release(w);
        }
    }

    /** The script's weight list: the parameters in {@code source}'s order, SDXL's time-id frequencies made here. */
    private static ScriptWeights weights(UNetScriptSource source, Map<String, Parameter> named, EncoderLayout layout,
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

    /** The context's keys and values of every cross-attention layer, in the context's manager. */
    private NDArray[] project(NDArray context, ScriptWeights.Lease w) {
        try (IValue ic = IValue.from((PtNDArray) context);
                IValue out = ScriptModules.run(module, "project", ic, w.list())) {
            return out.toTensorArray((PtNDManager) context.getManager());
        }
    }
}
