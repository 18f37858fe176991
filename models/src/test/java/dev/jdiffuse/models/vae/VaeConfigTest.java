package dev.jdiffuse.models.vae;

import dev.jdiffuse.models.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Config reads: diffusers' defaults for absent fields, and an error naming the field for unsupported values. */
class VaeConfigTest {

    @TempDir
    Path dir;

    private Path write(String json) throws IOException {
        return Files.writeString(dir.resolve("config.json"), json);
    }

    @Test
    void klDefaultsAreDiffusers() throws IOException {
        AutoencoderKLConfig c = AutoencoderKLConfig.read(write("{}"));
        assertEquals(List.of(64), c.blockOutChannels());
        assertEquals(1, c.layersPerBlock());
        assertEquals(32, c.normNumGroups());
        assertEquals(4, c.latentChannels());
        assertNull(c.shiftFactor());
        assertEquals(0.0, c.shift());
        assertNull(c.latentsMean());
        assertTrue(c.useQuantConv() && c.usePostQuantConv() && c.midBlockAddAttention() && c.forceUpcast());
    }

    @Test
    void klKeepsShiftAndLatentStatistics() throws IOException {
        AutoencoderKLConfig c = AutoencoderKLConfig.read(write("""
                {"block_out_channels": [32, 64], "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
                 "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"], "shift_factor": 0.0609,
                 "latents_mean": [0.1, 0.2, 0.3, 0.4], "latents_std": [1, 2, 3, 4], "use_quant_conv": false}"""));
        assertEquals(0.0609, c.shiftFactor());
        assertEquals(List.of(0.1, 0.2, 0.3, 0.4), c.latentsMean());
        assertEquals(2, c.downscale());
        assertFalse(c.useQuantConv());
    }

    @Test
    void klRejectsUnsupportedValuesNamingTheField() throws IOException {
        assertField("down_block_types", AutoencoderKLConfig::read,
                write("{\"down_block_types\": [\"AttnDownEncoderBlock2D\"]}"));
        assertField("up_block_types", AutoencoderKLConfig::read,
                write("{\"up_block_types\": [\"AttnUpDecoderBlock2D\"]}"));
        assertField("act_fn", AutoencoderKLConfig::read, write("{\"act_fn\": \"gelu\"}"));
        assertField("block_out_channels", AutoencoderKLConfig::read, write("{\"block_out_channels\": [64, 128]}"));
        assertField("norm_num_groups", AutoencoderKLConfig::read, write("{\"norm_num_groups\": 48}"));
        assertField("latents_std", AutoencoderKLConfig::read, write("{\"latents_mean\": [0, 0, 0, 0]}"));
        assertField("latents_mean", AutoencoderKLConfig::read, write("{\"latents_mean\": [0, 0], \"latents_std\": [1, 1]}"));
    }

    @Test
    void tinyDefaultsAreDiffusers() throws IOException {
        AutoencoderTinyConfig c = AutoencoderTinyConfig.read(write("{}"));
        assertEquals(List.of(64, 64, 64, 64), c.decoderBlockOutChannels());
        assertEquals(List.of(1, 3, 3, 3), c.numEncoderBlocks());
        assertEquals(List.of(3, 3, 3, 1), c.numDecoderBlocks());
        assertEquals("relu", c.actFn());
        assertEquals(3.0, c.latentMagnitude());
        assertEquals(0.5, c.latentShift());
        assertEquals(1.0, c.scalingFactor());
        assertEquals(0.0, c.shiftFactor());
    }

    @Test
    void tinyRejectsUnsupportedValuesNamingTheField() throws IOException {
        assertField("upsample_fn", AutoencoderTinyConfig::read, write("{\"upsample_fn\": \"bilinear\"}"));
        assertField("act_fn", AutoencoderTinyConfig::read, write("{\"act_fn\": \"mish\"}"));
        assertField("encoder_block_out_channels", AutoencoderTinyConfig::read,
                write("{\"encoder_block_out_channels\": [64, 64]}"));
        assertField("decoder_block_out_channels", AutoencoderTinyConfig::read,
                write("{\"decoder_block_out_channels\": [64, 32, 64, 64]}"));
    }

    private static void assertField(String field, java.util.function.Function<Path, ?> read, Path config) {
        ConfigException e = assertThrows(ConfigException.class, () -> read.apply(config));
        assertEquals(field, e.field(), e.getMessage());
    }
}
