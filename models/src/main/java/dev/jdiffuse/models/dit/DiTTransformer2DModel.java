package dev.jdiffuse.models.dit;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.HostCopies;
import dev.jdiffuse.models.nn.LayerNorm;
import dev.jdiffuse.models.nn.Linear;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.transformer.DiffusersWeights;
import dev.jdiffuse.models.transformer.Modulation;
import dev.jdiffuse.models.transformer.PatchEmbed;
import dev.jdiffuse.models.transformer.Unpatchify;
import dev.jdiffuse.models.weights.SafetensorsStateDict;

import java.nio.file.Path;

/**
 * The class-conditional Diffusion Transformer (Peebles and Xie 2023), diffusers' {@code DiTTransformer2DModel}:
 * patchify + sin-cos positions ({@code pos_embed}), N adaLN-Zero blocks ({@code transformer_blocks}), then the final
 * adaptive layer norm with block 0's conditioning ({@code proj_out_1} gives shift, scale) and the linear decoder
 * {@code proj_out_2}. With learned sigma the output has twice the latent channels (noise prediction first, variance
 * interpolation second); samplers use the first half.
 */
public final class DiTTransformer2DModel extends Module {

    private final DiTConfig config;
    private final PatchEmbed posEmbed;
    private final ModuleList<DiTBlock> blocks;
    private final LayerNorm normOut;
    private final Linear projOut1;
    private final Linear projOut2;

    public DiTTransformer2DModel(DiTConfig config) {
        this.config = config;
        int dim = config.innerDim();
        this.posEmbed = child("pos_embed",
                new PatchEmbed(config.sampleSize(), config.patchSize(), config.inChannels(), dim, 0));
        this.blocks = child("transformer_blocks", new ModuleList<>());
        for (int i = 0; i < config.numLayers(); i++) {
            blocks.add(new DiTBlock(config));
        }
        this.normOut = child("norm_out", new LayerNorm(dim, 1e-6, false));
        this.projOut1 = child("proj_out_1", new Linear(dim, 2L * dim, true));
        this.projOut2 = child("proj_out_2",
                new Linear(dim, (long) config.patchSize() * config.patchSize() * config.outChannels(), true));
    }

    /** Reads {@code config.json} and {@code diffusion_pytorch_model.safetensors} from a diffusers model folder. */
    public static DiTTransformer2DModel load(Path folder, NDManager manager, DataType dtype) {
        DiTConfig config = DiTConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict weights = DiffusersWeights.open(folder)) {
            return load(config, weights, manager, dtype);
        }
    }

    /** Builds the model from {@code config} and fills it from {@code weights} (diffusers key names). */
    public static DiTTransformer2DModel load(DiTConfig config, StateDict weights, NDManager manager, DataType dtype) {
        DiTTransformer2DModel model = new DiTTransformer2DModel(config);
        WeightLoader.load(model, weights, manager, dtype, "DiTTransformer2DModel");
        return model;
    }

    public DiTConfig config() {
        return config;
    }

    /**
     * @param x noisy latents [B, in_channels, H, W] (H, W multiples of the patch size)
     * @param timesteps one timestep per batch row, or one for all rows
     * @param classLabels one class id per row in [0, num_embeds_ada_norm]; {@code num_embeds_ada_norm} is the null class
     * @return [B, out_channels, H, W] in the compute dtype, in {@code x}'s manager
     */
    public NDArray forward(NDArray x, double[] timesteps, long[] classLabels) {
        long b = x.getShape().get(0);
        checkLabels(b, classLabels);
        DataType dtype = DiffusersWeights.dtypeOf(projOut1);
        NDManager m = x.getManager();
        // timestep features and labels made on the host, copied without waiting for the device (HostCopies)
        double[] ts = DiffusersWeights.perRow(timesteps, b);
        NDArray t = DiffusersWeights.as(HostCopies.onDeviceOf(m,
                host -> CombinedTimestepLabelEmbeddings.TIME_PROJ.embed(host, ts)), dtype);
        NDArray labels = HostCopies.onDeviceOf(m, host -> host.create(classLabels));
        int p = config.patchSize();
        long h = x.getShape().get(2) / p;
        long w = x.getShape().get(3) / p;
        NDArray tokens = posEmbed.forward(DiffusersWeights.as(x, dtype));
        NDArray conditioning = null;
        for (DiTBlock block : blocks) {
            NDList out = Scopes.run(new NDList(tokens, t, labels), in -> {
                DiTBlock.Output o = block.forward(in.get(0), in.get(1), in.get(2));
                return new NDList(o.x(), o.conditioning());
            });
            tokens = out.get(0);
            conditioning = conditioning == null ? out.get(1) : conditioning;
        }
        NDList shiftScale = projOut1.forward(Activations.silu(conditioning)).split(2, 1);
        tokens = Modulation.modulate(normOut.forward(tokens), shiftScale.get(0), shiftScale.get(1));
        return Unpatchify.apply(projOut2.forward(tokens), h, w, p, config.outChannels());
    }

    private void checkLabels(long batch, long[] classLabels) {
        if (classLabels.length != batch) {
            throw new IllegalArgumentException(classLabels.length + " class labels for a batch of " + batch);
        }
        for (long label : classLabels) {
            if (label < 0 || label > config.numEmbedsAdaNorm()) {
                throw new IllegalArgumentException("class label " + label + " outside [0, "
                        + config.numEmbedsAdaNorm() + "] (the last is the null class)");
            }
        }
    }
}
