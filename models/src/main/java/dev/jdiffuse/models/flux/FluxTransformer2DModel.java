package dev.jdiffuse.models.flux;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.ScriptedPath;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.sd3.CombinedTimestepTextProjEmbeddings;
import dev.jdiffuse.models.transformer.AdaLayerNormContinuous;
import dev.jdiffuse.models.transformer.DiffusersWeights;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Path;

/**
 * The FLUX.1 rectified-flow transformer (Black Forest Labs 2024), diffusers' {@code FluxTransformer2DModel}: packed
 * latent tokens ({@code x_embedder}) and T5 context tokens ({@code context_embedder}) run through N double-stream
 * blocks (separate weights per stream, joint attention), then M single-stream blocks over the joined sequence; the
 * conditioning vector is timestep [+ distilled guidance] + pooled CLIP text ({@link FluxTimeTextEmbedding}); positions
 * enter only through 3-axis RoPE ({@link FluxRope}); {@code norm_out} + {@code proj_out} give the velocity of the
 * image tokens.
 *
 * <p>Timesteps arrive on the 0..1000 scale; like diffusers (the pipeline divides by 1000, the model multiplies back in
 * the compute dtype) they are rounded through {@code t / 1000 * 1000} in float32.
 */
public final class FluxTransformer2DModel extends Module {

    private final FluxTransformerConfig config;
    private final Linear xEmbedder;
    private final Linear contextEmbedder;
    private final FluxTimeTextEmbedding timeTextEmbed;
    private final ModuleList<FluxTransformerBlock> blocks;
    private final ModuleList<FluxSingleTransformerBlock> singleBlocks;
    private final AdaLayerNormContinuous normOut;
    private final Linear projOut;
    private final FluxRope rope;
    /** The forward as one TorchScript call where it can be made (the weights' manager is known once loaded). */
    private final ScriptedPath<TorchScriptFlux> script = new ScriptedPath<>("FLUX transformer forward",
            FluxTransformer2DModel.class, () -> ScriptedPath.enabled() ? TorchScriptFlux.create(this, weights())
                    : null);

    public FluxTransformer2DModel(FluxTransformerConfig config) {
        this.config = config;
        int dim = config.innerDim();
        int heads = config.numAttentionHeads();
        int headDim = config.attentionHeadDim();
        this.xEmbedder = child("x_embedder", new Linear(config.inChannels(), dim, true));
        this.contextEmbedder = child("context_embedder", new Linear(config.jointAttentionDim(), dim, true));
        this.timeTextEmbed = child("time_text_embed",
                new FluxTimeTextEmbedding(dim, config.pooledProjectionDim(), config.guidanceEmbeds()));
        this.blocks = child("transformer_blocks", new ModuleList<>());
        for (int i = 0; i < config.numLayers(); i++) {
            blocks.add(new FluxTransformerBlock(dim, heads, headDim));
        }
        this.singleBlocks = child("single_transformer_blocks", new ModuleList<>());
        for (int i = 0; i < config.numSingleLayers(); i++) {
            singleBlocks.add(new FluxSingleTransformerBlock(dim, heads, headDim));
        }
        this.normOut = child("norm_out", new AdaLayerNormContinuous(dim, dim, false, 1e-6, true));
        this.projOut = child("proj_out",
                new Linear(dim, (long) config.patchSize() * config.patchSize() * config.outChannels(), true));
        this.rope = new FluxRope(config.axesDimsRope());
    }

    /** Reads {@code config.json} and {@code diffusion_pytorch_model.safetensors} from a diffusers model folder. */
    public static FluxTransformer2DModel load(Path folder, NDManager manager, DataType dtype) {
        FluxTransformerConfig config = FluxTransformerConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict weights = DiffusersWeights.open(folder)) {
            return load(config, weights, manager, dtype);
        }
    }

    /** Builds the model from {@code config} and fills it from {@code weights} (diffusers key names). */
    public static FluxTransformer2DModel load(FluxTransformerConfig config, StateDict weights, NDManager manager,
            DataType dtype) {
        FluxTransformer2DModel model = new FluxTransformer2DModel(config);
        WeightLoader.load(model, weights, manager, dtype, "FluxTransformer2DModel", k -> false);
        return model;
    }

    public FluxTransformerConfig config() {
        return config;
    }

    /**
     * @param tokens packed latents [B, rows x cols, in_channels], row-major over the packed grid
     * @param rows packed grid height (latent height / 2)
     * @param cols packed grid width (latent width / 2)
     * @param context T5 context [B, Lc, joint_attention_dim]
     * @param pooled pooled CLIP text [B, pooled_projection_dim]
     * @param timesteps one flow timestep (sigma x 1000) per row, or one for all rows
     * @param guidance the distilled guidance scale per row (or one for all rows), e.g. 3.5; ignored without a guidance
     *     embedder
     * @return the velocity of the image tokens [B, rows x cols, out_channels] in the compute dtype
     */
    public NDArray forward(NDArray tokens, int rows, int cols, NDArray context, NDArray pooled, double[] timesteps,
            double[] guidance) {
        return script.run(s -> {
            long b = tokens.getShape().get(0);
            NDList tables = rope.tables(weights(), tokens.getManager(), (int) context.getShape().get(1), rows, cols);
            // the sinusoids are made on the host and copied inside the script without waiting for the device
            try (NDManager host = tokens.getManager().newSubManager(ai.djl.Device.cpu())) {
                NDArray tf = CombinedTimestepTextProjEmbeddings.TIME_PROJ.embed(host,
                        thousandths(DiffusersWeights.perRow(timesteps, b)));
                NDArray gf = timeTextEmbed.hasGuidance() ? CombinedTimestepTextProjEmbeddings.TIME_PROJ.embed(host,
                        timesThousand(DiffusersWeights.perRow(guidance, b))) : null;
                return s.forward(tokens, context, pooled, tf, gf, tables);
            }
        }, () -> forwardComposite(tokens, rows, cols, context, pooled, timesteps, guidance));
    }

    /**
     * Whether {@link #forward} runs as one TorchScript call ({@link TorchScriptFlux}): true unless
     * {@code -Djdiffuse.scripted=false}, or the script could not be made for this model (logged once).
     */
    public boolean scriptedForward() {
        return script.available();
    }

    /**
     * The forward through the Java modules, op by op: the fallback of {@link #forward} and its reference in the tests;
     * public for benchmarks that time both. Arguments and result as {@link #forward}.
     */
    public NDArray forwardComposite(NDArray tokens, int rows, int cols, NDArray context, NDArray pooled,
            double[] timesteps, double[] guidance) {
        long b = tokens.getShape().get(0);
        DataType dtype = DiffusersWeights.dtypeOf(projOut);
        NDArray x = xEmbedder.forward(DiffusersWeights.as(tokens, dtype));
        double[] g = timeTextEmbed.hasGuidance() ? timesThousand(DiffusersWeights.perRow(guidance, b)) : null;
        NDArray temb = timeTextEmbed.forward(thousandths(DiffusersWeights.perRow(timesteps, b)), g,
                DiffusersWeights.as(pooled, dtype));
        NDArray c = contextEmbedder.forward(DiffusersWeights.as(context, dtype));
        long lc = c.getShape().get(1);
        NDList tables = rope.tables(weights(), x.getManager(), (int) lc, rows, cols);
        for (FluxTransformerBlock block : blocks) {
            NDList out = Scopes.run(new NDList(x, c, temb), in -> {
                FluxTransformerBlock.Output o = block.forward(in.get(0), in.get(1), in.get(2), tables);
                return new NDList(o.x(), o.context());
            });
            x = out.get(0);
            c = out.get(1);
        }
        NDArray h = c.concat(x, 1);
        for (FluxSingleTransformerBlock block : singleBlocks) {
            h = Scopes.run(new NDList(h, temb), in -> new NDList(block.forward(in.get(0), in.get(1), tables)))
                    .singletonOrThrow();
        }
        x = h.get(":, " + lc + ":, :");
        return projOut.forward(normOut.forward(x, temb));
    }

    /** The manager holding the weights: it lives as long as the model, so tables kept for reuse go there. */
    private NDManager weights() {
        return projOut.namedParameters().values().iterator().next().get().getManager();
    }

    /** The guidance scale as the model embeds it: {@code g x 1000} in float32 (diffusers' pipeline passes g as is). */
    private static double[] timesThousand(double[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = (float) values[i] * 1000f;
        }
        return out;
    }

    /**
     * diffusers' round trip of a timestep or guidance value: the pipeline passes {@code v / 1000} and the model
     * multiplies by 1000, both in float32 (the sinusoid's input is float32 whatever the compute dtype).
     */
    private static double[] thousandths(double[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            float v = (float) values[i];
            out[i] = (v / 1000f) * 1000f;
        }
        return out;
    }
}
