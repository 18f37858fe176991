package dev.jdiffuse.models.vae;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.config.ConfigException;
import dev.jdiffuse.models.config.ConfigJson;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Hyper-parameters of diffusers' {@code AutoencoderKL} (the KL-regularised VAE of Rombach et al. 2022, "High-Resolution
 * Image Synthesis with Latent Diffusion Models", Sec. 3 and App. G), with diffusers' defaults for absent fields.
 *
 * @param shiftFactor SD3/Flux latent shift; null when the config has none (pipelines then treat it as 0)
 * @param latentsMean per-channel latent mean (SDXL-family configs such as Playground v2.5), or null
 * @param latentsStd per-channel latent standard deviation, or null
 * @param forceUpcast whether pipelines should run this VAE in float32 even when the rest runs in half precision
 */
public record AutoencoderKLConfig(
        int inChannels,
        int outChannels,
        List<String> downBlockTypes,
        List<String> upBlockTypes,
        List<Integer> blockOutChannels,
        int layersPerBlock,
        String actFn,
        int latentChannels,
        int normNumGroups,
        int sampleSize,
        double scalingFactor,
        Double shiftFactor,
        List<Double> latentsMean,
        List<Double> latentsStd,
        boolean forceUpcast,
        boolean useQuantConv,
        boolean usePostQuantConv,
        boolean midBlockAddAttention) {

    static final String DOWN_BLOCK = "DownEncoderBlock2D";
    static final String UP_BLOCK = "UpDecoderBlock2D";

    public AutoencoderKLConfig {
        downBlockTypes = List.copyOf(downBlockTypes);
        upBlockTypes = List.copyOf(upBlockTypes);
        blockOutChannels = List.copyOf(blockOutChannels);
        latentsMean = latentsMean == null ? null : List.copyOf(latentsMean);
        latentsStd = latentsStd == null ? null : List.copyOf(latentsStd);
    }

    public static AutoencoderKLConfig read(Path configJson) {
        return read(ConfigJson.read(configJson));
    }

    public static AutoencoderKLConfig read(ConfigJson c) {
        List<String> down = c.getStringList("down_block_types", List.of(DOWN_BLOCK));
        List<String> up = c.getStringList("up_block_types", List.of(UP_BLOCK));
        requireAll(c, "down_block_types", down, DOWN_BLOCK);
        requireAll(c, "up_block_types", up, UP_BLOCK);
        List<Integer> channels = c.getIntList("block_out_channels", List.of(64), 1);
        if (channels.isEmpty() || channels.size() != down.size()) {
            throw new ConfigException(c.source(), "block_out_channels",
                    channels.size() + " entries but " + down.size() + " down_block_types");
        }
        if (up.size() != channels.size()) {
            throw new ConfigException(c.source(), "up_block_types",
                    up.size() + " entries but " + channels.size() + " block_out_channels");
        }
        String act = c.getEnum("act_fn", "silu", Set.of("silu", "swish"));
        int groups = c.getInt("norm_num_groups", 32);
        for (int ch : channels) {
            if (groups <= 0 || ch % groups != 0) {
                throw new ConfigException(c.source(), "norm_num_groups",
                        "block_out_channels entry " + ch + " is not divisible by " + groups);
            }
        }
        int layers = c.getInt("layers_per_block", 1);
        if (layers < 1) {
            throw new ConfigException(c.source(), "layers_per_block", "must be at least 1, got " + layers);
        }
        int latent = c.getInt("latent_channels", 4);
        List<Double> mean = doubleList(c, "latents_mean", latent);
        List<Double> std = doubleList(c, "latents_std", latent);
        if ((mean == null) != (std == null)) {
            throw new ConfigException(c.source(), mean == null ? "latents_mean" : "latents_std",
                    "latents_mean and latents_std must be given together");
        }
        return new AutoencoderKLConfig(
                c.getInt("in_channels", 3),
                c.getInt("out_channels", 3),
                down,
                up,
                channels,
                layers,
                act,
                latent,
                groups,
                c.getIntList("sample_size", List.of(32), 1).get(0),
                c.getDouble("scaling_factor", 0.18215),
                c.has("shift_factor") ? c.getDouble("shift_factor", 0) : null,
                mean,
                std,
                c.getBool("force_upcast", true),
                c.getBool("use_quant_conv", true),
                c.getBool("use_post_quant_conv", true),
                c.getBool("mid_block_add_attention", true));
    }

    /** The spatial down-sampling factor of the encoder, {@code 2^(levels - 1)} (8 for SD). */
    public int downscale() {
        return 1 << (blockOutChannels.size() - 1);
    }

    /** {@link #shiftFactor} with diffusers' pipelines' treatment of null as 0. */
    public double shift() {
        return shiftFactor == null ? 0 : shiftFactor;
    }

    private static void requireAll(ConfigJson c, String field, List<String> types, String supported) {
        for (String t : types) {
            if (!supported.equals(t)) {
                throw new ConfigException(c.source(), field,
                        "unsupported block type '" + t + "' (supported: " + supported + ")");
            }
        }
    }

    private static List<Double> doubleList(ConfigJson c, String field, int expectedLength) {
        if (!c.has(field)) {
            return null;
        }
        JsonNode n = c.node().get(field);
        if (!n.isArray()) {
            throw new ConfigException(c.source(), field, "expected a list of numbers, got " + n);
        }
        List<Double> out = new ArrayList<>();
        for (JsonNode e : n) {
            if (!e.isNumber()) {
                throw new ConfigException(c.source(), field, "expected numbers, got " + e);
            }
            out.add(e.doubleValue());
        }
        if (out.size() != expectedLength) {
            throw new ConfigException(c.source(), field,
                    out.size() + " entries but latent_channels is " + expectedLength);
        }
        return out;
    }
}
