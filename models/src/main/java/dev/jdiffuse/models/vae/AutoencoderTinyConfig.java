package dev.jdiffuse.models.vae;

import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;
import dev.jdiffuse.models.nn.Activations;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * Hyper-parameters of diffusers' {@code AutoencoderTiny} (TAESD, madebyollin/taesd), with diffusers' defaults.
 *
 * @param latentMagnitude and {@code latentShift}: TAESD's latent quantisation range (used by its {@code forward}'s
 *     round trip through bytes, kept for completeness)
 * @param scalingFactor and {@code shiftFactor}: the pipelines' latent scaling (1 and 0 for TAESD)
 */
public record AutoencoderTinyConfig(
        int inChannels,
        int outChannels,
        List<Integer> encoderBlockOutChannels,
        List<Integer> decoderBlockOutChannels,
        String actFn,
        String upsampleFn,
        int latentChannels,
        int upsamplingScalingFactor,
        List<Integer> numEncoderBlocks,
        List<Integer> numDecoderBlocks,
        double latentMagnitude,
        double latentShift,
        boolean forceUpcast,
        double scalingFactor,
        double shiftFactor) {

    public AutoencoderTinyConfig {
        encoderBlockOutChannels = List.copyOf(encoderBlockOutChannels);
        decoderBlockOutChannels = List.copyOf(decoderBlockOutChannels);
        numEncoderBlocks = List.copyOf(numEncoderBlocks);
        numDecoderBlocks = List.copyOf(numDecoderBlocks);
    }

    public static AutoencoderTinyConfig read(Path configJson) {
        return read(ConfigJson.read(configJson));
    }

    public static AutoencoderTinyConfig read(ConfigJson c) {
        List<Integer> four64 = List.of(64, 64, 64, 64);
        List<Integer> enc = c.getIntList("encoder_block_out_channels", four64, 1);
        List<Integer> dec = c.getIntList("decoder_block_out_channels", four64, 1);
        List<Integer> numEnc = c.getIntList("num_encoder_blocks", List.of(1, 3, 3, 3), 1);
        List<Integer> numDec = c.getIntList("num_decoder_blocks", List.of(3, 3, 3, 1), 1);
        if (enc.isEmpty() || enc.size() != numEnc.size()) {
            throw new ConfigException(c.source(), "encoder_block_out_channels",
                    enc.size() + " entries but num_encoder_blocks has " + numEnc.size());
        }
        if (dec.isEmpty() || dec.size() != numDec.size()) {
            throw new ConfigException(c.source(), "decoder_block_out_channels",
                    dec.size() + " entries but num_decoder_blocks has " + numDec.size());
        }
        // diffusers' EncoderTiny/DecoderTiny keep one width per model: their stride-2 and per-level convs map a
        // level's width to itself, so differing entries would fail in diffusers' forward as well.
        requireUniform(c, "encoder_block_out_channels", enc);
        requireUniform(c, "decoder_block_out_channels", dec);
        String act = c.getString("act_fn", "relu");
        if (!Activations.isSupported(act)) {
            throw new ConfigException(c.source(), "act_fn", "unsupported activation '" + act + "'");
        }
        int factor = c.getInt("upsampling_scaling_factor", 2);
        if (factor < 1) {
            throw new ConfigException(c.source(), "upsampling_scaling_factor", "must be positive, got " + factor);
        }
        return new AutoencoderTinyConfig(
                c.getInt("in_channels", 3), c.getInt("out_channels", 3), enc, dec, act,
                c.getEnum("upsample_fn", "nearest", Set.of("nearest")), c.getInt("latent_channels", 4), factor,
                numEnc, numDec, c.getDouble("latent_magnitude", 3), c.getDouble("latent_shift", 0.5),
                c.getBool("force_upcast", false), c.getDouble("scaling_factor", 1.0),
                c.getDouble("shift_factor", 0.0));
    }

    private static void requireUniform(ConfigJson c, String field, List<Integer> channels) {
        if (channels.stream().distinct().count() != 1) {
            throw new ConfigException(c.source(), field, "entries must be equal, got " + channels);
        }
    }
}
