package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.nn.StateDict;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;

import java.nio.file.Path;

/** Opening a family's VAE, with diffusers' precision rule in one place. */
public final class Vaes {

    private Vaes() {
    }

    /**
     * The {@code vae/} folder's autoencoder.
     *
     * @param latentChannels the channels the denoiser works in, checked against {@code latent_channels}; 0 to skip
     *     (a UNet's input may carry more, e.g. an inpainting mask)
     */
    public static AutoencoderKL open(Path folder, NDManager weights, DataType dtype, int latentChannels) {
        Path file = folder.resolve("config.json");
        AutoencoderKLConfig c = AutoencoderKLConfig.read(file);
        if (latentChannels > 0 && c.latentChannels() != latentChannels) {
            throw new ConfigException(file.toString(), "latent_channels", "is " + c.latentChannels()
                    + " but the denoiser takes " + latentChannels + " channels");
        }
        return AutoencoderKL.load(folder, weights, type(c, dtype));
    }

    /** The autoencoder of an original single-file checkpoint ({@code first_stage_model.*}). */
    public static AutoencoderKL openSingleFile(AutoencoderKLConfig c, StateDict checkpoint, NDManager weights,
            DataType dtype) {
        return AutoencoderKL.loadSingleFile(c, checkpoint, weights, type(c, dtype));
    }

    /** diffusers runs VAEs marked {@code force_upcast} in float32 even in half-precision pipelines. */
    static DataType type(AutoencoderKLConfig c, DataType dtype) {
        return c.forceUpcast() && dtype == DataType.FLOAT16 ? DataType.FLOAT32 : dtype;
    }
}
