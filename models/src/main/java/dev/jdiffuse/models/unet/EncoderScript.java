package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValue;
import dev.jdiffuse.models.nn.CudaGraphCache;
import dev.jdiffuse.models.nn.CudaGraphs;
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
    /** The model's CUDA graphs ({@link #forwardTensor}), owned by its manager; null where not used. */
    private final CudaGraphCache graphs;

    private EncoderScript(PtSymbolBlock module, ScriptWeights weights, int skips, boolean textTime,
            CudaGraphCache graphs) {
        this.module = module;
        this.weights = weights;
        this.skips = skips;
        this.textTime = textTime;
        this.graphs = graphs;
    }

    /**
     * Compiles {@code source} (class {@code cls}) for {@code model} (loaded into {@code owner}).
     *
     * @param graphed whether {@link #forwardTensor} may replay CUDA graphs (the UNet's; not the ControlNet's, whose
     *     scale argument is a number)
     * @throws RuntimeException when the script does not compile; the caller keeps the composite forward
     */
    static EncoderScript load(String cls, UNetScriptSource source, UNetEncoderModel model, NDManager owner,
            boolean graphed) {
        PtSymbolBlock module = ScriptModules.load(cls, source.code());
        CudaGraphCache graphs = null;
        if (graphed && owner.getDevice().isGpu()) {
            graphs = new CudaGraphCache(cls, owner.getDevice().toString());
            owner.attachInternal("cuda-graphs-" + java.util.UUID.randomUUID(), graphs);
        }
        return new EncoderScript(module, weights(source, model.namedParameters(), model.layout(), owner),
                source.skips(), model.layout().textTime(), graphs);
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
        return withArguments(x, timeFeatures, context, extras, more, (args, w, kv) -> {
            try (IValue out = ScriptModules.run(module, "forward", args)) {
                return read.apply(out);
            }
        });
    }

    /**
     * {@link #forward} for a script whose result is one tensor and whose trailing arguments are tensors or lists of
     * tensors: on a CUDA device with {@link CudaGraphs} on, up to {@link CudaGraphs#MAX_ROWS} rows, with the weights
     * as loaded (no LoRA merged in), a replay of the graph captured for these shapes.
     *
     * @param moreKey what selects a different graph in {@code more} beyond {@code x}'s shape (e.g. how many residuals)
     * @return [B, out_channels, H, W] in the sample's manager
     */
    NDArray forwardTensor(NDArray x, NDArray timeFeatures, TextContext context, UNetExtras extras, String moreKey,
            IValue... more) {
        PtNDManager manager = (PtNDManager) x.getManager();
        return withArguments(x, timeFeatures, context, extras, more, (args, w, kv) -> {
            // only the weights as loaded: a LoRA request would otherwise release the graphs and capture new ones
            // for its patched weights (and again when the base is put back), twice per request
            if (graphs != null && w.asLoaded() && x.getDevice().isGpu()
                    && x.getShape().get(0) <= CudaGraphs.MAX_ROWS) {
                long[] handles = new long[args.length];
                for (int i = 0; i < args.length; i++) {
                    handles[i] = args[i].getHandle();
                }
                long[] out = graphs.call(module.getHandle(), "forward", handles, varying(args.length),
                        graphKey(x, timeFeatures, kv, extras, moreKey));
                if (out != null) {
                    return new PtNDArray(manager, out[0]);
                }
            }
            try (IValue out = ScriptModules.run(module, "forward", args)) {
                return out.toTensor(manager);
            }
        });
    }

    /** A forward's arguments, the weight list they hold and the projected context. */
    private interface Call<T> {
        T run(IValue[] args, ScriptWeights.Lease weights, NDArray[] kv);
    }

    private <T> T withArguments(NDArray x, NDArray timeFeatures, TextContext context, UNetExtras extras,
            IValue[] more, Call<T> call) {
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
                return call.run(args, w, kv);
            }
        } finally {
            weights.release(w);
        }
    }

    /** Every argument but the weight list (index 3) changes between calls. */
    private static boolean[] varying(int n) {
        boolean[] v = new boolean[n];
        java.util.Arrays.fill(v, true);
        v[3] = false;
        return v;
    }

    /** The shapes and dtypes a graph is specialised to: the sample's, the time features', the context's, SDXL's. */
    static String graphKey(NDArray x, NDArray timeFeatures, NDArray[] kv, UNetExtras extras, String moreKey) {
        StringBuilder k = new StringBuilder().append(x.getShape()).append(x.getDataType()).append('|')
                .append(timeFeatures.getShape()).append(timeFeatures.getDataType()).append('|').append(kv.length);
        if (kv.length > 0) {
            k.append(kv[0].getShape()).append(kv[0].getDataType());
        }
        if (extras.textEmbeds() != null) {
            k.append('|').append(extras.textEmbeds().getShape()).append(extras.timeIds().getShape());
        }
        return k.append('|').append(moreKey).toString();
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
