package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * diffusers' {@code AutoencoderKL}: the KL-regularised autoencoder of latent diffusion (Rombach et al. 2022, Sec. 3),
 * used by SD 1.x/2.x, SDXL and SD3. Parameter names are diffusers': {@code encoder.*}, {@code quant_conv},
 * {@code post_quant_conv}, {@code decoder.*}.
 *
 * <p>Two spaces of latents appear: the VAE's own ({@link #encode}, {@link #decode}) and the diffusion model's,
 * {@code (z - shift) * scaling_factor} (or {@code (z - latents_mean) * scaling_factor / latents_std} where the
 * config has per-channel statistics), which the pipelines' helpers {@link #imageToLatents} / {@link #latentsToImage}
 * convert to and from. Images are [B, 3, H, W] in [-1, 1] for {@link #encode}/{@link #decode}.
 */
public final class AutoencoderKL extends Module {

    private static final float LOGVAR_MIN = -30f;
    private static final float LOGVAR_MAX = 20f;

    private final AutoencoderKLConfig config;
    private final DataType dtype;
    private final List<UnaryOperator<NDArray>> encodeSteps = new ArrayList<>();
    private final List<UnaryOperator<NDArray>> decodeSteps = new ArrayList<>();
    private NDArray latentsMean;
    private NDArray latentsStd;

    /** The module tree of {@code config}, not loaded (e.g. to enumerate its parameters); use {@link #load} to run. */
    public static AutoencoderKL unloaded(AutoencoderKLConfig config) {
        return new AutoencoderKL(config, DataType.FLOAT32);
    }

    private AutoencoderKL(AutoencoderKLConfig config, DataType dtype) {
        this.config = config;
        this.dtype = dtype;
        int latent = config.latentChannels();
        VaeEncoder encoder = child("encoder", new VaeEncoder(config));
        VaeDecoder decoder = child("decoder", new VaeDecoder(config));
        encodeSteps.add(x -> x.toType(dtype, false));
        encodeSteps.add(encoder::forward);
        if (config.useQuantConv()) {
            encodeSteps.add(child("quant_conv", Conv2d.pointwise(2L * latent, 2L * latent))::forward);
        }
        decodeSteps.add(z -> z.toType(dtype, false));
        if (config.usePostQuantConv()) {
            decodeSteps.add(child("post_quant_conv", Conv2d.pointwise(latent, latent))::forward);
        }
        decodeSteps.add(decoder::forward);
    }

    /** Loads a diffusers folder ({@code vae/}): {@code config.json} and {@code diffusion_pytorch_model.safetensors}. */
    public static AutoencoderKL load(Path folder, NDManager manager, DataType dtype) {
        AutoencoderKLConfig config = AutoencoderKLConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict weights = WeightFiles.open(folder, WeightFiles.DIFFUSERS)) {
            return load(config, weights, manager, dtype);
        }
    }

    /**
     * Loads from a state dict in diffusers' names (deprecated {@code query/key/value/proj_attn} attention names and
     * 1x1-conv attention projections are accepted). The weights live in {@code manager} as {@code dtype}.
     */
    public static AutoencoderKL load(AutoencoderKLConfig config, StateDict weights, NDManager manager,
            DataType dtype) {
        AutoencoderKL vae = new AutoencoderKL(config, dtype);
        WeightLoader.load(vae, VaeKeys.normalizeDiffusers(weights), manager, dtype, "AutoencoderKL");
        if (config.latentsMean() != null) {
            vae.latentsMean = channelVector(manager, config.latentsMean(), dtype);
            vae.latentsStd = channelVector(manager, config.latentsStd(), dtype);
        }
        return vae;
    }

    /**
     * Loads the VAE of a single-file checkpoint with the original LDM names ({@code first_stage_model.*}); the
     * hyper-parameters, which such files lack, come from {@code config}.
     */
    public static AutoencoderKL loadSingleFile(AutoencoderKLConfig config, StateDict checkpoint, NDManager manager,
            DataType dtype) {
        return load(config, VaeKeys.fromLdm(checkpoint, config.upBlockTypes().size()), manager, dtype);
    }

    private static NDArray channelVector(NDManager manager, List<Double> values, DataType dtype) {
        float[] v = new float[values.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = values.get(i).floatValue();
        }
        return manager.create(v).reshape(1, v.length, 1, 1).toType(dtype, false);
    }

    public AutoencoderKLConfig config() {
        return config;
    }

    /** The weights' (compute) dtype. */
    public DataType dtype() {
        return dtype;
    }

    /**
     * The posterior of {@code image} [B, in, H, W] in [-1, 1]: the encoder's [B, 2*latent, h, w] output (after
     * {@code quant_conv}) split into mean and log-variance, the latter clamped to [-30, 20] as diffusers does.
     * Results are in the image's manager, in the weights' dtype.
     */
    public LatentDistribution encode(NDArray image) {
        NDList parts = Scopes.chain(image, encodeSteps).split(2, 1);
        return new LatentDistribution(parts.get(0), parts.get(1).clip(LOGVAR_MIN, LOGVAR_MAX));
    }

    /** Decodes VAE-space latents [B, latent, h, w] to an image [B, out, f*h, f*w] in about [-1, 1]. */
    public NDArray decode(NDArray latents) {
        return Scopes.chain(latents, decodeSteps);
    }

    /** Diffusion-model latents from VAE-space latents: {@code (z - shift) * scaling_factor} (or per-channel). */
    public NDArray scaleLatents(NDArray z) {
        float sf = (float) config.scalingFactor();
        if (latentsMean != null) {
            return z.sub(latentsMean).mul(sf).div(latentsStd);
        }
        float shift = (float) config.shift();
        return shift == 0f ? z.mul(sf) : z.sub(shift).mul(sf);
    }

    /** VAE-space latents from diffusion-model latents, the inverse of {@link #scaleLatents}. */
    public NDArray unscaleLatents(NDArray latents) {
        float sf = (float) config.scalingFactor();
        if (latentsMean != null) {
            return latents.mul(latentsStd).div(sf).add(latentsMean);
        }
        float shift = (float) config.shift();
        NDArray z = latents.div(sf);
        return shift == 0f ? z : z.add(shift);
    }

    /**
     * The pipelines' final step: decode diffusion-model latents and map to an image [B, out, H, W] in [0, 1]
     * ({@code (x / 2 + 0.5).clamp(0, 1)}, diffusers' {@code VaeImageProcessor.denormalize}), as float32.
     */
    public NDArray latentsToImage(NDArray latents) {
        return Scopes.chain(latents, List.of(z -> unscaleLatents(z.toType(dtype, false)), this::decode,
                x -> x.toType(DataType.FLOAT32, false).div(2f).add(0.5f).clip(0f, 1f)));
    }

    /** Diffusion-model latents of {@code image} [B, in, H, W] in [-1, 1], from the posterior mean (img2img). */
    public NDArray imageToLatents(NDArray image) {
        return Scopes.chain(image, List.of(x -> encode(x).mean(), this::scaleLatents));
    }
}
