package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.ScriptedPath;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.GroupNorm;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;
import static dev.jdiffuse.samplers.nd.ScalarOps.sub;

/**
 * The conditional denoising UNet of Stable Diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with
 * Latent Diffusion Models", sec. 3.3; Podell et al. 2023 for SDXL's added size conditioning), laid out and named as
 * diffusers' {@code UNet2DConditionModel}: {@code conv_in}, {@code time_embedding}, {@code add_embedding} (SDXL),
 * {@code down_blocks}, {@code mid_block}, {@code up_blocks}, {@code conv_norm_out}, {@code conv_out}.
 *
 * <p>Predicts the noise (or v) for a latent sample: {@link #forward} maps sample [B, C, H, W], B timesteps and text
 * context [B, L, D] to [B, out_channels, H, W]. Weights are in the manager given to {@link #load}; results land in
 * the sample's manager, in the weights' dtype.
 */
public final class UNet2DConditionModel extends UNetEncoderModel {

    private final UNet2DConditionConfig config;
    private final ModuleList<UNetUpBlock> upBlocks;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;
    /** The manager the weights were loaded into (null until {@link #load}); owns the script's weight list. */
    private NDManager weightsManager;
    /** The forward as one TorchScript call where it can be made (the weights' manager is known once loaded). */
    private final ScriptedPath<TorchScriptUNet> script = new ScriptedPath<>("UNet forward",
            UNet2DConditionModel.class, () -> ScriptedPath.enabled() && weightsManager != null
                    ? TorchScriptUNet.create(this, weightsManager) : null);

    public UNet2DConditionModel(UNet2DConditionConfig config) {
        super(config.encoderLayout());
        this.config = config;
        int levels = config.levels();
        List<Integer> channels = reversed(config.blockOutChannels());
        List<Integer> heads = reversed(config.attentionHeads());
        List<Integer> layers = reversed(config.layersPerBlock());
        List<Integer> crossDims = reversed(config.crossAttentionDim());
        List<Integer> transformerLayers = reversed(config.transformerLayersPerBlock());
        EncoderLayout layout = config.encoderLayout();
        this.upBlocks = child("up_blocks", new ModuleList<>());
        int out = channels.get(0);
        for (int i = 0; i < levels; i++) {
            int prev = out;
            out = channels.get(i);
            int in = channels.get(Math.min(i + 1, levels - 1));
            AttentionSettings attn = UNetConfigFields.CROSS_ATTN_UP.equals(config.upBlockTypes().get(i))
                    ? layout.attention(heads.get(i), transformerLayers.get(i), crossDims.get(i)) : null;
            upBlocks.add(new UNetUpBlock(in, out, prev, layers.get(i) + 1, config.timeEmbedDim(),
                    config.normNumGroups(), config.normEps(), attn, i < levels - 1));
        }
        int c0 = config.blockOutChannels().get(0);
        this.convNormOut = child("conv_norm_out", new GroupNorm(config.normNumGroups(), c0, config.normEps()));
        this.convOut = child("conv_out", new Conv2d(c0, config.outChannels(), config.convOutKernel(), 1,
                (config.convOutKernel() - 1) / 2, true));
    }

    private static List<Integer> reversed(List<Integer> l) {
        List<Integer> r = new ArrayList<>(l);
        Collections.reverse(r);
        return r;
    }

    public UNet2DConditionConfig config() {
        return config;
    }

    /**
     * A diffusers folder: {@code config.json} + {@code diffusion_pytorch_model.safetensors}.
     *
     * @param manager owns the weights for the model's life; its device is where the model runs
     */
    public static UNet2DConditionModel load(Path folder, NDManager manager, DataType dtype) {
        UNet2DConditionConfig config = UNet2DConditionConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict sd = WeightFiles.open(folder, WeightFiles.DIFFUSERS)) {
            return load(config, sd, manager, dtype, folder.toString());
        }
    }

    /** From weights already in diffusers naming (e.g. a renamed single-file checkpoint, see {@link LdmUnetKeys}). */
    public static UNet2DConditionModel load(UNet2DConditionConfig config, StateDict weights, NDManager manager,
            DataType dtype, String what) {
        UNet2DConditionModel model = new UNet2DConditionModel(config);
        WeightLoader.load(model, weights, manager, dtype, "UNet2DConditionModel " + what);
        model.setDtype(dtype);
        model.weightsManager = manager;
        return model;
    }

    /**
     * From an original (CompVis/LDM, A1111-style) single-file checkpoint: the keys under
     * {@code model.diffusion_model.} are renamed by {@link LdmUnetKeys}; the other components' keys are ignored.
     */
    public static UNet2DConditionModel loadLdm(UNet2DConditionConfig config, StateDict checkpoint,
            NDManager manager, DataType dtype, String what) {
        return load(config, checkpoint.renamed(LdmUnetKeys.table(config)), manager, dtype, what);
    }

    /**
     * One denoising evaluation, as diffusers' {@code UNet2DConditionModel.forward}.
     *
     * @param sample latents [B, in_channels, H, W]; H and W need not be multiples of 2^(levels-1)
     * @param timesteps one timestep per batch row, or a single one for the whole batch
     * @param encoderHiddenStates text context [B, L, cross_attention_dim]
     * @param extras SDXL text_embeds/time_ids and ControlNet residuals (added to the skip connections and to the mid
     *     block's output); {@link UNetExtras#NONE} for none
     * @return [B, out_channels, H, W] in the sample's manager
     */
    public NDArray forward(NDArray sample, double[] timesteps, NDArray encoderHiddenStates, UNetExtras extras) {
        return forward(sample, timesteps, TextContext.of(encoderHiddenStates), extras);
    }

    /**
     * The same with a {@link TextContext} kept across the steps of a request, so that each cross-attention layer
     * projects the text context once per request instead of once per step.
     */
    public NDArray forward(NDArray sample, double[] timesteps, TextContext textContext, UNetExtras extras) {
        return script.run(s -> {
            requireTextTime(extras);
            // the features stay on the host: the script copies them to the device without waiting for it (a
            // blocking copy here would make every forward wait for the device to finish all the work queued before)
            try (ai.djl.ndarray.NDManager host = sample.getManager().newSubManager(ai.djl.Device.cpu());
                    NDArray features = timestepFeatures(sample, timesteps, host)) {
                return s.forward(sample, features, textContext, extras);
            }
        }, () -> forwardComposite(sample, timesteps, textContext, extras));
    }

    /**
     * Whether {@link #forward} runs as one TorchScript call ({@link TorchScriptUNet}): true unless
     * {@code -Djdiffuse.scripted=false}, or the script could not be made for this model (logged once). Decided at the
     * first call.
     */
    public boolean scriptedForward() {
        return script.available();
    }

    /**
     * The forward through the Java modules, op by op: the fallback of {@link #forward} and its reference in the tests;
     * public for benchmarks that time both.
     */
    public NDArray forwardComposite(NDArray sample, double[] timesteps, TextContext textContext, UNetExtras extras) {
        NDArray x = cast(sample);
        TextContext context = textContext.as(dtype());
        if (config.centerInputSample()) {
            x = sub(mul(x, 2f), 1f);
        }
        NDArray emb = timeEmbedding(x, timesteps, extras);
        List<NDArray> skips = encode(convIn(x), emb, context);
        NDArray h = skips.get(skips.size() - 1);
        if (extras.hasControl()) {
            skips = addResiduals(skips, extras.downBlockAdditionalResiduals());
        }
        h = middle(h, emb, context);
        if (extras.hasControl()) {
            h = h.add(cast(extras.midBlockAdditionalResidual()));
        }
        long factor = 1L << (config.levels() - 1);
        boolean explicitSize = x.getShape().get(2) % factor != 0 || x.getShape().get(3) % factor != 0;
        Deque<NDArray> remaining = new ArrayDeque<>(skips);
        for (int i = 0; i < upBlocks.size(); i++) {
            UNetUpBlock block = upBlocks.get(i);
            long[] upsampleSize = null;
            if (explicitSize && i < upBlocks.size() - 1) {
                // diffusers: the size of the skip that the next block will consume last
                java.util.Iterator<NDArray> fromEnd = remaining.descendingIterator();
                for (int k = 0; k < block.layers(); k++) {
                    fromEnd.next();
                }
                NDArray target = fromEnd.next();
                upsampleSize = new long[] {target.getShape().get(2), target.getShape().get(3)};
            }
            NDArray in = h;
            long[] size = upsampleSize;
            h = Scopes.run(new NDList(in, emb), () -> block.forward(in, remaining, emb, context, size));
        }
        h = convNormOut.forwardSilu(h);
        return convOut.forward(h);
    }

    private List<NDArray> addResiduals(List<NDArray> skips, List<NDArray> residuals) {
        if (residuals.size() != skips.size()) {
            throw new IllegalArgumentException(residuals.size() + " down-block residuals given, the UNet has "
                    + skips.size() + " skip connections");
        }
        List<NDArray> out = new ArrayList<>(skips.size());
        for (int i = 0; i < skips.size(); i++) {
            out.add(skips.get(i).add(cast(residuals.get(i))));
        }
        return out;
    }
}
