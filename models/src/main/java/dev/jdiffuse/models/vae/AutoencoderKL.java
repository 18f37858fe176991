package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.ScriptedPath;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;
import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;
import static dev.jdiffuse.samplers.nd.ScalarOps.sub;

/**
 * diffusers' {@code AutoencoderKL}: the KL-regularised autoencoder of latent diffusion (Rombach et al. 2022, Sec. 3),
 * used by SD 1.x/2.x, SDXL and SD3. Parameter names are diffusers': {@code encoder.*}, {@code quant_conv},
 * {@code post_quant_conv}, {@code decoder.*}.
 *
 * <p>Two spaces of latents appear: the VAE's own ({@link #encode}, {@link #decode}) and the diffusion model's,
 * {@code (z - shift) * scaling_factor} (or {@code (z - latents_mean) * scaling_factor / latents_std} where the
 * config has per-channel statistics), which the pipelines' helpers {@link #imageToLatents} / {@link #latentsToImage}
 * convert to and from. Images are [B, 3, H, W] in [-1, 1] for {@link #encode}/{@link #decode}.
 *
 * <p>With {@code -Djdiffuse.scripted.vae=true} each of those four runs as one TorchScript call ({@link TorchScriptVae})
 * instead of a few hundred DJL ops; by default, with {@code -Djdiffuse.scripted=false} (the UNet's switch) or where
 * the script cannot be made for this model (logged once), they run op by op through the Java modules, which
 * {@link #decodeComposite} and {@link #encodeComposite} also run explicitly. Both paths compute the same ops in the
 * same order. Opt-in because it did not win on the GPU: on an H200 (session 5, fp16, SD's decoder at 512x512) one
 * image took 20.6 ms scripted and 20.8 ms op by op, a batch of 16 (jobs decoding together) 206.9 against 169.1 ms.
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
    /** The manager the weights were loaded into (null when {@link #unloaded}); owns the script's weight list. */
    private NDManager weightsManager;
    /** The four entry points as TorchScript calls, where asked for and possible (see the class comment). */
    private final ScriptedPath<TorchScriptVae> script = new ScriptedPath<>("VAE", AutoencoderKL.class,
            () -> ScriptedPath.enabled() && Boolean.getBoolean("jdiffuse.scripted.vae") && weightsManager != null
                    ? TorchScriptVae.create(this, latentsMean, latentsStd, weightsManager) : null);

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
        vae.weightsManager = manager;
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
        return script.run(s -> {
            NDArray[] parts = s.encode(image);
            return new LatentDistribution(parts[0], parts[1]);
        }, () -> encodeComposite(image));
    }

    /** {@link #encode} through the Java modules, op by op: its fallback and its reference in tests and benchmarks. */
    public LatentDistribution encodeComposite(NDArray image) {
        NDList parts = Scopes.chain(image, encodeSteps).split(2, 1);
        return new LatentDistribution(parts.get(0), parts.get(1).clip(LOGVAR_MIN, LOGVAR_MAX));
    }

    /** Decodes VAE-space latents [B, latent, h, w] to an image [B, out, f*h, f*w] in about [-1, 1]. */
    public NDArray decode(NDArray latents) {
        return script.run(s -> s.decode(latents), () -> decodeComposite(latents));
    }

    /** {@link #decode} through the Java modules, op by op: its fallback and its reference in tests and benchmarks. */
    public NDArray decodeComposite(NDArray latents) {
        return Scopes.chain(latents, decodeSteps);
    }

    /** Diffusion-model latents from VAE-space latents: {@code (z - shift) * scaling_factor} (or per-channel). */
    public NDArray scaleLatents(NDArray z) {
        float sf = (float) config.scalingFactor();
        if (latentsMean != null) {
            return mul(z.sub(latentsMean), sf).div(latentsStd);
        }
        float shift = (float) config.shift();
        return shift == 0f ? mul(z, sf) : mul(sub(z, shift), sf);
    }

    /** VAE-space latents from diffusion-model latents, the inverse of {@link #scaleLatents}. */
    public NDArray unscaleLatents(NDArray latents) {
        float sf = (float) config.scalingFactor();
        if (latentsMean != null) {
            return div(latents.mul(latentsStd), sf).add(latentsMean);
        }
        float shift = (float) config.shift();
        NDArray z = div(latents, sf);
        return shift == 0f ? z : add(z, shift);
    }

    /**
     * The pipelines' final step: decode diffusion-model latents [B, latent, h, w] and map to an image
     * [B, out, f*h, f*w] in [0, 1] ({@code (x / 2 + 0.5).clamp(0, 1)}, diffusers' {@code VaeImageProcessor.denormalize}),
     * as float32. Rows are independent: a batch of B gives the B images their lone calls give.
     */
    public NDArray latentsToImage(NDArray latents) {
        return script.run(s -> s.toImage(latents), () -> latentsToImageComposite(latents));
    }

    /** {@link #latentsToImage} op by op (the fallback; the tests' reference). */
    NDArray latentsToImageComposite(NDArray latents) {
        return Scopes.chain(latents, List.of(z -> unscaleLatents(z.toType(dtype, false)), this::decodeComposite,
                x -> add(div(x.toType(DataType.FLOAT32, false), 2f), 0.5f).clip(0f, 1f)));
    }

    /** Diffusion-model latents of {@code image} [B, in, H, W] in [-1, 1], from the posterior mean (img2img). */
    public NDArray imageToLatents(NDArray image) {
        return script.run(s -> s.toLatents(image), () -> imageToLatentsComposite(image));
    }

    /** {@link #imageToLatents} op by op (the fallback; the tests' reference). */
    NDArray imageToLatentsComposite(NDArray image) {
        return Scopes.chain(image, List.of(x -> encodeComposite(x).mean(), this::scaleLatents));
    }

    /**
     * The side of a pixel tile in tiled coding, diffusers' {@code tile_sample_min_size}: the config's
     * {@code sample_size} (512 for SD 1.x, 768 for SD 2.x, 1024 for SDXL).
     */
    public int defaultTileSize() {
        return config.sampleSize();
    }

    /**
     * {@link #decode} in tiles of {@code tileSize} pixels ({@link TiledCoding}; diffusers' {@code tiled_decode}), or
     * untiled where the latents fit in one tile ({@code tileSize / downscale} latents a side, as diffusers decides).
     */
    public NDArray decodeTiled(NDArray latents, int tileSize, double overlap) {
        int tile = latentTile(tileSize);
        Shape s = latents.getShape();
        if (s.get(2) <= tile && s.get(3) <= tile) {
            return decode(latents);
        }
        return TiledCoding.apply(latents, tile, tileSize, overlap, this::decode);
    }

    /**
     * {@link #encode} in tiles of {@code tileSize} pixels (diffusers' {@code _tiled_encode}: the encoder's moments are
     * blended, then split and the log-variance clamped), or untiled where the image fits in one tile.
     */
    public LatentDistribution encodeTiled(NDArray image, int tileSize, double overlap) {
        Shape s = image.getShape();
        if (s.get(2) <= tileSize && s.get(3) <= tileSize) {
            return encode(image);
        }
        NDList parts = Scopes.run(new NDList(image), in -> {
            NDList moments = TiledCoding.apply(in.get(0), tileSize, latentTile(tileSize), overlap,
                    x -> Scopes.chain(x, encodeSteps)).split(2, 1);
            return new NDList(moments.get(0), moments.get(1).clip(LOGVAR_MIN, LOGVAR_MAX));
        });
        return new LatentDistribution(parts.get(0), parts.get(1));
    }

    /** {@link #latentsToImage} with the decoding in tiles ({@link #decodeTiled}). */
    public NDArray latentsToImageTiled(NDArray latents, int tileSize, double overlap) {
        return Scopes.chain(latents, List.of(z -> unscaleLatents(z.toType(dtype, false)),
                z -> decodeTiled(z, tileSize, overlap),
                x -> add(div(x.toType(DataType.FLOAT32, false), 2f), 0.5f).clip(0f, 1f)));
    }

    /** diffusers' {@code tile_latent_min_size}: {@code int(tile_sample_min_size / 2^(levels - 1))}. */
    private int latentTile(int tileSize) {
        int tile = tileSize / config.downscale();
        if (tile < 1 || tile * config.downscale() != tileSize) {
            throw new IllegalArgumentException("a VAE tile of " + tileSize + " pixels is not a positive multiple of "
                    + config.downscale());
        }
        return tile;
    }

    /**
     * Whether {@link #decode}, {@link #encode}, {@link #latentsToImage} and {@link #imageToLatents} run as one
     * TorchScript call each: with {@code -Djdiffuse.scripted.vae=true}, unless {@code -Djdiffuse.scripted=false}, the
     * model is {@link #unloaded}, or the script could not be made for it (logged once). Decided at the first call.
     */
    public boolean scripted() {
        return script.available();
    }
}
