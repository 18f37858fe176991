package dev.jdiffuse.models.unet;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.ModuleList;
import dev.jdiffuse.models.nn.ScriptedPath;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * ControlNet (Zhang et al. 2023, "Adding Conditional Control to Text-to-Image Diffusion Models"), laid out and named as
 * diffusers' {@code ControlNetModel}: a trainable copy of the UNet's encoder ({@code conv_in}, {@code time_embedding},
 * {@code add_embedding}, {@code down_blocks}, {@code mid_block}) whose input is the latent plus the embedded control
 * image ({@code controlnet_cond_embedding}), and zero-initialised 1x1 convolutions ({@code controlnet_down_blocks.i},
 * {@code controlnet_mid_block}) that turn every skip connection and the mid output into residuals for the UNet.
 * Guess mode and global pooling are not supported.
 */
public final class ControlNetModel extends UNetEncoderModel {

    private final ControlNetConfig config;
    private final ControlNetConditioningEmbedding condEmbedding;
    private final ModuleList<Conv2d> controlnetDownBlocks;
    private final Conv2d controlnetMidBlock;
    /** The manager the weights were loaded into (null until {@link #load}); owns the script's weight list. */
    private NDManager weightsManager;
    /** The forward as one TorchScript call where it can be made (the weights' manager is known once loaded). */
    private final ScriptedPath<TorchScriptControlNet> script = new ScriptedPath<>("ControlNet forward",
            ControlNetModel.class, () -> ScriptedPath.enabled() && weightsManager != null
                    ? TorchScriptControlNet.create(this, weightsManager) : null);

    public ControlNetModel(ControlNetConfig config) {
        super(config.encoderLayout());
        this.config = config;
        List<Integer> channels = config.blockOutChannels();
        this.condEmbedding = child("controlnet_cond_embedding", new ControlNetConditioningEmbedding(
                config.conditioningChannels(), config.conditioningEmbeddingOutChannels(), channels.get(0)));
        this.controlnetDownBlocks = child("controlnet_down_blocks", new ModuleList<>());
        controlnetDownBlocks.add(Conv2d.pointwise(channels.get(0), channels.get(0)));
        for (int i = 0; i < channels.size(); i++) {
            int c = channels.get(i);
            int convs = config.layersPerBlock() + (i < channels.size() - 1 ? 1 : 0);
            for (int j = 0; j < convs; j++) {
                controlnetDownBlocks.add(Conv2d.pointwise(c, c));
            }
        }
        int mid = channels.get(channels.size() - 1);
        this.controlnetMidBlock = child("controlnet_mid_block", Conv2d.pointwise(mid, mid));
    }

    public ControlNetConfig config() {
        return config;
    }

    /** A diffusers folder: {@code config.json} + {@code diffusion_pytorch_model.safetensors}. */
    public static ControlNetModel load(Path folder, NDManager manager, DataType dtype) {
        ControlNetConfig config = ControlNetConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict sd = WeightFiles.open(folder, WeightFiles.DIFFUSERS)) {
            return load(config, sd, manager, dtype, folder.toString());
        }
    }

    /** From weights in diffusers naming. */
    public static ControlNetModel load(ControlNetConfig config, StateDict weights, NDManager manager, DataType dtype,
            String what) {
        ControlNetModel model = new ControlNetModel(config);
        WeightLoader.load(model, weights, manager, dtype, "ControlNetModel " + what);
        model.setDtype(dtype);
        model.weightsManager = manager;
        return model;
    }

    /**
     * The residuals for one UNet evaluation, as diffusers' {@code ControlNetModel.forward} with
     * {@code guess_mode=False}.
     *
     * @param sample latents [B, C, H, W]
     * @param timesteps one per batch row, or one for the whole batch
     * @param encoderHiddenStates text context [B, L, D]
     * @param controlnetCond control image [B, conditioning_channels, 8H, 8W] in [0, 1]
     * @param conditioningScale multiplies every residual
     * @param extras SDXL text_embeds/time_ids when the config has text_time; else {@link UNetExtras#NONE}
     */
    public ControlNetOutput forward(NDArray sample, double[] timesteps, NDArray encoderHiddenStates,
            NDArray controlnetCond, float conditioningScale, UNetExtras extras) {
        return forward(sample, timesteps, TextContext.of(encoderHiddenStates), controlnetCond, conditioningScale,
                extras);
    }

    /**
     * The same with a {@link TextContext} kept across a request's steps (see {@link UNet2DConditionModel}); one
     * TorchScript call ({@link TorchScriptControlNet}) unless {@link #scriptedForward()} is false.
     */
    public ControlNetOutput forward(NDArray sample, double[] timesteps, TextContext textContext,
            NDArray controlnetCond, float conditioningScale, UNetExtras extras) {
        return script.run(s -> {
            requireTextTime(extras);
            // the features stay on the host; the script copies them without waiting for the device (as the UNet's)
            try (NDManager host = sample.getManager().newSubManager(ai.djl.Device.cpu());
                    NDArray features = timestepFeatures(sample, timesteps, host)) {
                return s.forward(sample, features, textContext, inChannelOrder(controlnetCond), conditioningScale,
                        extras);
            }
        }, () -> forwardComposite(sample, timesteps, textContext, controlnetCond, conditioningScale, extras));
    }

    /**
     * Whether {@link #forward} runs as one TorchScript call: true unless {@code -Djdiffuse.scripted=false} or the
     * script could not be made for this model (logged once). Decided at the first call.
     */
    public boolean scriptedForward() {
        return script.available();
    }

    /** The control image with its channels flipped for a model trained on BGR images. */
    private NDArray inChannelOrder(NDArray cond) {
        return "bgr".equals(config.channelOrder()) ? cond.flip(1) : cond;
    }

    /** The forward through the Java modules, op by op: the fallback of {@link #forward} and its reference in tests. */
    public ControlNetOutput forwardComposite(NDArray sample, double[] timesteps, TextContext textContext,
            NDArray controlnetCond, float conditioningScale, UNetExtras extras) {
        NDArray x = cast(sample);
        TextContext context = textContext.as(dtype());
        NDArray cond = inChannelOrder(cast(controlnetCond));
        NDArray emb = timeEmbedding(x, timesteps, extras);
        NDArray h = convIn(x).add(condEmbedding.forward(cond));
        List<NDArray> skips = encode(h, emb, context);
        NDArray mid = middle(skips.get(skips.size() - 1), emb, context);
        List<NDArray> down = new ArrayList<>(skips.size());
        for (int i = 0; i < skips.size(); i++) {
            down.add(mul(controlnetDownBlocks.get(i).forward(skips.get(i)), conditioningScale));
        }
        return new ControlNetOutput(down, mul(controlnetMidBlock.forward(mid), conditioningScale));
    }
}
