package dev.jdiffuse.models.clip;

import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.models.nn.ScriptedPath;
import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;
import dev.jdiffuse.samplers.batching.StepBatcher;
import ai.djl.ndarray.NDList;

import java.nio.file.Path;
import java.util.List;

/**
 * A CLIP text encoder (Radford et al. 2021): transformers' {@code CLIPTextModel} (SD1/SD2 encoder, SDXL's first)
 * or {@code CLIPTextModelWithProjection} (SDXL's and SD3's second, adding {@code text_projection}), chosen by the
 * config's {@code architectures}. Parameter names are transformers' ({@code text_model.*}, {@code text_projection}).
 *
 * <p>Use: {@code ClipTextOutput out = model.encode(stepManager, tokenizer ids [B][77])}; SD1 takes
 * {@code out.lastHiddenState()}, SDXL {@code out.penultimate()} and {@code out.textEmbeds()}.
 *
 * <p>A model made by {@code load} encodes as one TorchScript call ({@link TorchScriptClip}, docs/perf/scripted-clip.md)
 * instead of ~15 JNI calls per layer, with the same outputs; {@code -Djdiffuse.scripted=false} keeps the op-by-op
 * path ({@link #encodeComposite}).
 */
public final class ClipTextModel extends Module {

    private final ClipTextConfig config;
    private final ClipTextTransformer textModel;
    private final Linear textProjection;
    /** The manager the weights were loaded into (null until {@link #load}); owns the script's weight list. */
    private NDManager weightsManager;
    /** See {@link #gatherStartingJobs}. */
    private volatile Boolean gatherStarts;
    /** The encoder as one TorchScript call where it can be made (only for a model made by {@code load}). */
    private final ScriptedPath<TorchScriptClip> script = new ScriptedPath<>("CLIP text encoder", ClipTextModel.class,
            () -> ScriptedPath.enabled() && weightsManager != null ? TorchScriptClip.create(this, weightsManager)
                    : null);

    public ClipTextModel(ClipTextConfig config) {
        this.config = config;
        this.textModel = child("text_model", new ClipTextTransformer(config));
        this.textProjection = config.withProjection()
                ? child("text_projection", new Linear(config.hiddenSize(), config.projectionDim(), false)) : null;
    }

    /**
     * A transformers folder (a diffusers pipeline's {@code text_encoder/} or {@code text_encoder_2/}):
     * {@code config.json} + {@code model.safetensors}.
     */
    public static ClipTextModel load(Path folder, NDManager manager, DataType dtype) {
        ClipTextConfig config = ClipTextConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict sd = WeightFiles.open(folder, WeightFiles.TRANSFORMERS)) {
            return load(config, sd.renamed(ClipTextKeys::fromTransformers), manager, dtype);
        }
    }

    /** From weights already in transformers' naming (see {@link ClipTextKeys}). */
    public static ClipTextModel load(ClipTextConfig config, StateDict weights, NDManager manager, DataType dtype) {
        ClipTextModel model = new ClipTextModel(config);
        WeightLoader.load(model, weights, manager, dtype, "CLIP text encoder", ClipTextKeys::isIgnorable);
        model.weightsManager = manager;
        return model;
    }

    /**
     * From an original single-file checkpoint (the text encoder under {@code cond_stage_model.transformer.} or
     * {@code conditioner.embedders.0.transformer.}); other keys of the file are left alone.
     */
    public static ClipTextModel loadSingleFile(ClipTextConfig config, StateDict checkpoint, NDManager manager,
            DataType dtype) {
        return load(config, checkpoint.renamed(ClipTextKeys::fromSingleFile), manager, dtype);
    }

    /**
     * From an OpenCLIP text tower of a single-file checkpoint (SD 2.x {@code cond_stage_model.model.}, SDXL's
     * {@code conditioner.embedders.1.model.}), mapped by {@link OpenClipTextKeys}; other keys are left alone.
     */
    public static ClipTextModel loadOpenClip(ClipTextConfig config, StateDict checkpoint, String prefix,
            NDManager manager, DataType dtype) {
        return load(config, OpenClipTextKeys.view(checkpoint, prefix, config), manager, dtype);
    }

    /**
     * Encodes a batch of token ids (rows of equal length, e.g. {@link ClipTokenizer#encodePadded}).
     *
     * @param manager owns the ids and every result (a per-request manager)
     */
    public ClipTextOutput encode(NDManager manager, int[][] ids) {
        if (ids.length == 0) {
            throw new IllegalArgumentException("empty batch");
        }
        long[] flat = new long[ids.length * ids[0].length];
        for (int b = 0; b < ids.length; b++) {
            if (ids[b].length != ids[0].length) {
                throw new IllegalArgumentException("rows of different lengths: " + ids[b].length + " and "
                        + ids[0].length);
            }
            for (int i = 0; i < ids[b].length; i++) {
                flat[b * ids[0].length + i] = ids[b][i];
            }
        }
        Shape shape = new Shape(ids.length, ids[0].length);
        return encode(HostCopies.onDevice(manager, device(), m -> m.create(flat, shape)));
    }

    /**
     * Encodes token ids with some input embeddings replaced (textual-inversion vectors), the same for every row:
     * position i takes {@code rows[i]} ([D], the hidden size) instead of its token's embedding where it is not null.
     * Runs op by op ({@link #encodeComposite}); without replaced rows it is {@link #encode(NDManager, int[][])}.
     *
     * @param rows [L] entries, each null or a vector of the hidden size
     */
    public ClipTextOutput encode(NDManager manager, int[][] ids, float[][] rows) {
        if (rows == null || java.util.Arrays.stream(rows).allMatch(java.util.Objects::isNull)) {
            return encode(manager, ids);
        }
        int length = ids[0].length;
        int width = config.hiddenSize();
        if (rows.length != length) {
            throw new IllegalArgumentException(rows.length + " replacement rows for " + length + " tokens");
        }
        float[] flat = new float[length * width];
        boolean[] mask = new boolean[length];
        for (int i = 0; i < length; i++) {
            if (rows[i] != null) {
                if (rows[i].length != width) {
                    throw new IllegalArgumentException("replacement row " + i + " has width " + rows[i].length
                            + ", the encoder " + width);
                }
                System.arraycopy(rows[i], 0, flat, i * width, width);
                mask[i] = true;
            }
        }
        long[] flatIds = new long[ids.length * length];
        for (int b = 0; b < ids.length; b++) {
            if (ids[b].length != length) {
                throw new IllegalArgumentException("rows of different lengths: " + ids[b].length + " and " + length);
            }
            for (int i = 0; i < length; i++) {
                flatIds[b * length + i] = ids[b][i];
            }
        }
        Device d = device();
        NDArray idArray = HostCopies.onDevice(manager, d, m -> m.create(flatIds, new Shape(ids.length, length)));
        NDArray rowArray = HostCopies.onDevice(manager, d, m -> m.create(flat, new Shape(length, width)));
        NDArray maskArray = HostCopies.onDevice(manager, d, m -> m.create(mask, new Shape(length, 1)));
        // op by op: where the job's forwards run, so that its launches come between two forwards (as text encoding
        // did before it was gathered, PromptEmbeddingCache)
        return StepBatcher.whereCurrentLaneForwardsRun(() -> {
            ClipTextOutput out = textModel.forward(idArray, rowArray, maskArray);
            if (textProjection == null) {
                return out;
            }
            return new ClipTextOutput(out.lastHiddenState(), out.hiddenStates(), out.pooled(),
                    textProjection.forward(out.pooled()));
        });
    }

    /**
     * @param ids int64 [B, L] on the weights' device; results land in its manager. Runs as one TorchScript call
     *     ({@link #scriptedForward()}) or op by op; both give the same outputs. On a GPU, called by a job that has
     *     joined a {@link StepBatcher}, the call is gathered with the other starting jobs' on the batcher's forward
     *     thread ({@link StepBatcher#startWork}): the encoder is row-wise (causal attention, no padding mask), so one
     *     call on their concatenated ids gives each job its own rows.
     */
    public ClipTextOutput encode(NDArray ids) {
        Boolean forced = gatherStarts;
        if (!(forced == null ? ids.getDevice().isGpu() : forced)) {
            return encodeHere(ids);
        }
        return fromList(StepBatcher.startWork(ids, this, x -> toList(encodeHere(x))));
    }

    /**
     * Whether {@link #encode} gathers the calls of starting jobs (null: on a GPU only, where a job's kernel launches
     * would otherwise wait behind the forward thread's; on the CPU the encodings run in parallel on the job threads).
     * Tests on the CPU switch it on.
     */
    public void gatherStartingJobs(boolean on) {
        gatherStarts = on;
    }

    private ClipTextOutput encodeHere(NDArray ids) {
        return script.run(s -> {
            textModel.checkIds(ids);
            return s.encode(ids);
        }, () -> encodeComposite(ids));
    }

    /** [last hidden state, pooled, text embeds (or pooled again), hidden states...]: every entry [B, ...]. */
    private static NDList toList(ClipTextOutput o) {
        NDList list = new NDList(o.hiddenStates().size() + 3);
        list.add(o.lastHiddenState());
        list.add(o.pooled());
        list.add(o.textEmbeds() == null ? o.pooled() : o.textEmbeds());
        list.addAll(o.hiddenStates());
        return list;
    }

    private ClipTextOutput fromList(NDList list) {
        List<NDArray> hidden = List.copyOf(list.subList(3, list.size()));
        return new ClipTextOutput(list.get(0), hidden, list.get(1), textProjection == null ? null : list.get(2));
    }

    /**
     * Whether {@link #encode} runs as one TorchScript call ({@link TorchScriptClip}): true unless
     * {@code -Djdiffuse.scripted=false}, the model was not made by {@code load}, or the script could not be made for
     * it (logged once). Decided at the first call.
     */
    public boolean scriptedForward() {
        return script.available();
    }

    /**
     * The encoding through the Java modules, op by op: the fallback of {@link #encode} and its reference in the
     * tests; public for benchmarks that time both.
     *
     * @param ids int64 [B, L] on the weights' device; results land in its manager
     */
    public ClipTextOutput encodeComposite(NDArray ids) {
        ClipTextOutput out = textModel.forward(ids);
        if (textProjection == null) {
            return out;
        }
        return new ClipTextOutput(out.lastHiddenState(), out.hiddenStates(), out.pooled(),
                textProjection.forward(out.pooled()));
    }

    /** {@code text_model.final_layer_norm}, which diffusers applies to {@code hidden_states[-(clip_skip + 1)]}. */
    public NDArray finalLayerNorm(NDArray hidden) {
        return textModel.finalLayerNorm(hidden);
    }

    public ClipTextConfig config() {
        return config;
    }

    /** The device holding the weights. */
    public Device device() {
        return textModel.device();
    }
}
