package dev.jdiffuse.models.sd3;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.ScriptedPath;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.nn.WeightMismatchException;
import dev.jdiffuse.models.transformer.AdaLayerNormContinuous;
import dev.jdiffuse.models.transformer.DiffusersWeights;
import dev.jdiffuse.models.transformer.PatchEmbed;
import dev.jdiffuse.models.transformer.Unpatchify;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The multimodal diffusion transformer of Stable Diffusion 3 / 3.5 (Esser et al. 2024), diffusers'
 * {@code SD3Transformer2DModel}: latents are patchified with centre-cropped sin-cos positions ({@code pos_embed}), the
 * text context is projected ({@code context_embedder}), timestep + pooled text give the conditioning vector
 * ({@code time_text_embed}), N joint blocks run both streams, and {@code norm_out} + {@code proj_out} decode the image
 * tokens to the predicted velocity (rectified flow, sec. 2).
 *
 * <p>The checkpoint's {@code pos_embed.pos_embed} buffer (the fixed sin-cos table, rounded to the checkpoint's dtype)
 * is read when present and the positions cropped from it, as diffusers does: recomputing the exact table instead put
 * an fp16 checkpoint's image tokens 2.4e-4 (bf16: 1.9e-3) off diffusers' and the images 1.8e-4 (bf16: 1.25e-3) apart.
 * Without the buffer the positions are computed from the config.
 */
public final class SD3Transformer2DModel extends Module {

    /** The persistent buffer diffusers saves: the M x M position grid [1, M*M, D] the positions are cropped from. */
    public static final String POSITION_BUFFER = "pos_embed.pos_embed";

    private final SD3TransformerConfig config;
    private final PatchEmbed posEmbed;
    private final CombinedTimestepTextProjEmbeddings timeTextEmbed;
    private final Linear contextEmbedder;
    private final ModuleList<JointTransformerBlock> blocks;
    private final AdaLayerNormContinuous normOut;
    private final Linear projOut;
    /** The forward as one TorchScript call where it can be made (made at the first call, once the weights are in). */
    private final ScriptedPath<TorchScriptSD3> script = new ScriptedPath<>("SD3 transformer forward",
            SD3Transformer2DModel.class, () -> ScriptedPath.enabled() ? TorchScriptSD3.create(this, weights()) : null);

    public SD3Transformer2DModel(SD3TransformerConfig config) {
        this.config = config;
        int dim = config.innerDim();
        this.posEmbed = child("pos_embed", new PatchEmbed(config.sampleSize(), config.patchSize(),
                config.inChannels(), dim, config.posEmbedMaxSize()));
        this.timeTextEmbed = child("time_text_embed",
                new CombinedTimestepTextProjEmbeddings(dim, config.pooledProjectionDim()));
        this.contextEmbedder = child("context_embedder",
                new Linear(config.jointAttentionDim(), config.captionProjectionDim(), true));
        this.blocks = child("transformer_blocks", new ModuleList<>());
        for (int i = 0; i < config.numLayers(); i++) {
            blocks.add(new JointTransformerBlock(dim, config.numAttentionHeads(), config.attentionHeadDim(),
                    i == config.numLayers() - 1, config.qkNorm(), config.dualAttentionLayers().contains(i)));
        }
        this.normOut = child("norm_out", new AdaLayerNormContinuous(dim, dim, false, 1e-6, true));
        this.projOut = child("proj_out",
                new Linear(dim, (long) config.patchSize() * config.patchSize() * config.outChannels(), true));
    }

    /** Reads {@code config.json} and {@code diffusion_pytorch_model.safetensors} from a diffusers model folder. */
    public static SD3Transformer2DModel load(Path folder, NDManager manager, DataType dtype) {
        SD3TransformerConfig config = SD3TransformerConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict weights = DiffusersWeights.open(folder)) {
            return load(config, weights, manager, dtype);
        }
    }

    /** Builds the model from {@code config} and fills it from {@code weights} (diffusers key names). */
    public static SD3Transformer2DModel load(SD3TransformerConfig config, StateDict weights, NDManager manager,
            DataType dtype) {
        SD3Transformer2DModel model = new SD3Transformer2DModel(config);
        WeightLoader.load(model, weights, manager, dtype, "SD3Transformer2DModel", POSITION_BUFFER::equals);
        if (weights.keys().contains(POSITION_BUFFER)) {
            long[] expected = {1, (long) config.posEmbedMaxSize() * config.posEmbedMaxSize(), config.innerDim()};
            long[] got = weights.shape(POSITION_BUFFER);
            if (!Arrays.equals(expected, got)) {
                throw new WeightMismatchException("SD3Transformer2DModel", List.of(), List.of(), List.of(
                        POSITION_BUFFER + " " + new Shape(got) + " (expected " + new Shape(expected) + ")"));
            }
            // read on the host: only the grid's two [M, D/2] codes are kept (SavedPositionGrid)
            try (NDManager host = NDManager.newBaseManager(Device.cpu())) {
                model.posEmbed.useSavedGrid(weights.load(POSITION_BUFFER, host, dtype));
            }
        }
        return model;
    }

    /**
     * From an original SD 3 / 3.5 single file (the MMDiT under {@code model.diffusion_model.}, mapped by
     * {@link Sd3CheckpointKeys}); other keys of the file are left alone.
     */
    public static SD3Transformer2DModel loadSingleFile(SD3TransformerConfig config, StateDict checkpoint,
            NDManager manager, DataType dtype) {
        return load(config, Sd3CheckpointKeys.view(checkpoint, config.numLayers()), manager, dtype);
    }

    public SD3TransformerConfig config() {
        return config;
    }

    /** The patch embedding and its positions (for the tests of where they come from). */
    PatchEmbed patchEmbed() {
        return posEmbed;
    }

    /**
     * @param hiddenStates latents [B, in_channels, H, W], H and W multiples of the patch size, at most
     *     {@code pos_embed_max_size} patches a side
     * @param encoderHiddenStates text context [B, L, joint_attention_dim]
     * @param pooledProjections pooled text embedding [B, pooled_projection_dim]
     * @param timesteps one flow-matching timestep (sigma x 1000) per row, or one for all rows
     * @return the prediction [B, out_channels, H, W] in the compute dtype, in {@code hiddenStates}' manager
     */
    public NDArray forward(NDArray hiddenStates, NDArray encoderHiddenStates, NDArray pooledProjections,
            double[] timesteps) {
        return script.run(s -> {
            long b = hiddenStates.getShape().get(0);
            int p = config.patchSize();
            NDArray positions = posEmbed.positions((int) (hiddenStates.getShape().get(2) / p),
                    (int) (hiddenStates.getShape().get(3) / p), DiffusersWeights.dtypeOf(projOut));
            // the sinusoid is made on the host and copied inside the script without waiting for the device
            try (NDManager host = hiddenStates.getManager().newSubManager(Device.cpu())) {
                NDArray tf = CombinedTimestepTextProjEmbeddings.TIME_PROJ.embed(host,
                        DiffusersWeights.perRow(timesteps, b));
                return s.forward(hiddenStates, encoderHiddenStates, pooledProjections, tf, positions);
            }
        }, () -> forwardComposite(hiddenStates, encoderHiddenStates, pooledProjections, timesteps));
    }

    /** The manager holding the weights (the script's weight list lives as long as they do). */
    private NDManager weights() {
        return projOut.namedParameters().values().iterator().next().get().getManager();
    }

    /**
     * Whether {@link #forward} runs as one TorchScript call ({@link TorchScriptSD3}): true unless
     * {@code -Djdiffuse.scripted=false}, or the script could not be made for this model (logged once).
     */
    public boolean scriptedForward() {
        return script.available();
    }

    /**
     * The forward through the Java modules, op by op: the fallback of {@link #forward} and its reference in the tests;
     * public for benchmarks that time both. Arguments and result as {@link #forward}.
     */
    public NDArray forwardComposite(NDArray hiddenStates, NDArray encoderHiddenStates, NDArray pooledProjections,
            double[] timesteps) {
        long b = hiddenStates.getShape().get(0);
        DataType dtype = DiffusersWeights.dtypeOf(projOut);
        int p = config.patchSize();
        long h = hiddenStates.getShape().get(2) / p;
        long w = hiddenStates.getShape().get(3) / p;
        NDArray x = posEmbed.forward(DiffusersWeights.as(hiddenStates, dtype));
        NDArray pooled = DiffusersWeights.as(pooledProjections, dtype);
        NDArray temb = timeTextEmbed.forward(DiffusersWeights.perRow(timesteps, b), pooled);
        NDArray context = contextEmbedder.forward(DiffusersWeights.as(encoderHiddenStates, dtype));
        for (JointTransformerBlock block : blocks) {
            NDList out = Scopes.run(new NDList(x, context, temb), in -> {
                JointTransformerBlock.Output o = block.forward(in.get(0), in.get(1), in.get(2));
                return o.context() == null ? new NDList(o.x()) : new NDList(o.x(), o.context());
            });
            x = out.get(0);
            context = out.size() > 1 ? out.get(1) : null;
        }
        x = projOut.forward(normOut.forward(x, temb));
        return Unpatchify.apply(x, h, w, p, config.outChannels());
    }
}
