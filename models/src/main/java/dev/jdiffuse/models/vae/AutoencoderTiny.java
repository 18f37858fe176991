package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.nn.Activations;
import dev.jdiffuse.models.nn.Conv2d;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Scopes;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.nn.WeightLoader;
import dev.jdiffuse.models.weights.SafetensorsStateDict;
import dev.jdiffuse.models.weights.WeightFiles;

import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;

import static dev.jdiffuse.samplers.nd.ScalarOps.add;
import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;
import static dev.jdiffuse.samplers.nd.ScalarOps.sub;

/**
 * diffusers' {@code AutoencoderTiny}: TAESD (madebyollin/taesd), a small distilled autoencoder with the SD VAE's
 * latent space, used for cheap previews. Parameter names are diffusers': {@code encoder.layers.N.*},
 * {@code decoder.layers.N.*} (the indices of an {@code nn.Sequential}, activations and upsampling included).
 *
 * <p>Unlike {@link AutoencoderKL}, diffusers' {@code encode(x).latents} and {@code decode(z).sample} are the raw
 * encoder and decoder: the encoder maps [-1, 1] to [0, 1] internally ({@code layers((x + 1) / 2)}), the decoder
 * soft-clamps its input ({@code tanh(z / 3) * 3}) and maps its output back ({@code 2 y - 1}).
 */
public final class AutoencoderTiny extends Module {

    private static final float DECODER_INPUT_RANGE = 3f;

    private final AutoencoderTinyConfig config;
    private final DataType dtype;
    private final List<UnaryOperator<NDArray>> encodeSteps;
    private final List<UnaryOperator<NDArray>> decodeSteps;

    private AutoencoderTiny(AutoencoderTinyConfig config, DataType dtype) {
        this.config = config;
        this.dtype = dtype;
        SequentialLayers encoder = child("encoder", new Wrapper()).layers(encoderLayers(config));
        SequentialLayers decoder = child("decoder", new Wrapper()).layers(decoderLayers(config));
        this.encodeSteps = List.of(x -> x.toType(dtype, false), x -> div(add(x, 1f), 2f), encoder::forward);
        this.decodeSteps = List.of(z -> z.toType(dtype, false),
                z -> mul(div(z, DECODER_INPUT_RANGE).tanh(), DECODER_INPUT_RANGE), decoder::forward,
                y -> sub(mul(y, 2f), 1f));
    }

    /** A parameter-free holder naming the {@code layers} sequence ({@code EncoderTiny} / {@code DecoderTiny}). */
    private static final class Wrapper extends Module {
        SequentialLayers layers(SequentialLayers layers) {
            return child("layers", layers);
        }
    }

    /** diffusers {@code EncoderTiny}: conv, blocks, then per level a stride-2 conv (no bias) and blocks; conv out. */
    private static SequentialLayers encoderLayers(AutoencoderTinyConfig c) {
        SequentialLayers layers = new SequentialLayers();
        List<Integer> ch = c.encoderBlockOutChannels();
        for (int i = 0; i < ch.size(); i++) {
            long n = ch.get(i);
            Conv2d conv = i == 0 ? Conv2d.same3x3(c.inChannels(), n) : new Conv2d(n, n, 3, 2, 1, false);
            layers.add(conv, conv::forward);
            for (int b = 0; b < c.numEncoderBlocks().get(i); b++) {
                AutoencoderTinyBlock block = new AutoencoderTinyBlock(n, n, c.actFn());
                layers.add(block, block::forward);
            }
        }
        Conv2d out = Conv2d.same3x3(ch.get(ch.size() - 1), c.latentChannels());
        layers.add(out, out::forward);
        return layers;
    }

    /**
     * diffusers {@code DecoderTiny}: conv, act, then per level blocks, an upsample (but the last level) and a conv
     * (without bias except the final one, which maps to the output channels).
     */
    private static SequentialLayers decoderLayers(AutoencoderTinyConfig c) {
        SequentialLayers layers = new SequentialLayers();
        List<Integer> ch = c.decoderBlockOutChannels();
        String act = c.actFn();
        Conv2d in = Conv2d.same3x3(c.latentChannels(), ch.get(0));
        layers.add(in, in::forward);
        layers.add(x -> Activations.byName(act, x));
        int factor = c.upsamplingScalingFactor();
        for (int i = 0; i < ch.size(); i++) {
            boolean last = i == ch.size() - 1;
            long n = ch.get(i);
            for (int b = 0; b < c.numDecoderBlocks().get(i); b++) {
                AutoencoderTinyBlock block = new AutoencoderTinyBlock(n, n, act);
                layers.add(block, block::forward);
            }
            if (!last) {
                layers.add(x -> x.repeat(2, factor).repeat(3, factor));
            }
            Conv2d conv = new Conv2d(n, last ? c.outChannels() : n, 3, 1, 1, last);
            layers.add(conv, conv::forward);
        }
        return layers;
    }

    /** Loads a diffusers folder: {@code config.json} and {@code diffusion_pytorch_model.safetensors}. */
    public static AutoencoderTiny load(Path folder, NDManager manager, DataType dtype) {
        AutoencoderTinyConfig config = AutoencoderTinyConfig.read(folder.resolve("config.json"));
        try (SafetensorsStateDict weights = WeightFiles.open(folder, WeightFiles.DIFFUSERS)) {
            return load(config, weights, manager, dtype);
        }
    }

    /** Loads from a state dict in diffusers' names; the weights live in {@code manager} as {@code dtype}. */
    public static AutoencoderTiny load(AutoencoderTinyConfig config, StateDict weights, NDManager manager,
            DataType dtype) {
        AutoencoderTiny vae = new AutoencoderTiny(config, dtype);
        WeightLoader.load(vae, weights, manager, dtype, "AutoencoderTiny");
        return vae;
    }

    public AutoencoderTinyConfig config() {
        return config;
    }

    public DataType dtype() {
        return dtype;
    }

    /**
     * diffusers {@code AutoencoderTiny.encode(x).latents}: image [B, in, H, W] in [-1, 1] -> latents
     * [B, latent, H / 2^(levels-1), W / 2^(levels-1)] in the VAE's (unscaled) space.
     */
    public NDArray encode(NDArray image) {
        return Scopes.chain(image, encodeSteps);
    }

    /**
     * diffusers {@code AutoencoderTiny.decode(z).sample}: latents [B, latent, h, w] -> image
     * [B, out, h * s^(levels-1), w * s^(levels-1)] in [-1, 1] (s = upsampling_scaling_factor).
     */
    public NDArray decode(NDArray latents) {
        return Scopes.chain(latents, decodeSteps);
    }

    /**
     * The pipelines' decode of diffusion-model latents to an image in [0, 1] as float32:
     * {@code decode(latents / scaling_factor + shift_factor)}, then {@code (x / 2 + 0.5).clamp(0, 1)}.
     */
    public NDArray latentsToImage(NDArray latents) {
        float scale = (float) config.scalingFactor();
        float shift = (float) config.shiftFactor();
        return Scopes.chain(latents, List.of(z -> add(div(z.toType(dtype, false), scale), shift), this::decode,
                x -> add(div(x.toType(DataType.FLOAT32, false), 2f), 0.5f).clip(0f, 1f)));
    }
}
