package dev.jdiffuse.models.pipeline.sd;

import dev.jdiffuse.models.clip.ClipTextConfig;
import dev.jdiffuse.models.clip.ClipTextModel;
import dev.jdiffuse.models.nn.WeightMismatchException;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.unet.UNet2DConditionConfig;
import dev.jdiffuse.models.unet.UNet2DConditionModel;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.models.vae.AutoencoderKLConfig;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A single-file checkpoint without a config folder is read with Stable Diffusion 1.5's architecture. */
class Sd15DefaultsTest {

    @Test
    void builtInConfigsDescribeStableDiffusion15() {
        Path cfg = Sd15Defaults.configFolder();
        // the parameter counts of the released SD 1.5 components
        assertEquals(859_520_964L,
                new UNet2DConditionModel(UNet2DConditionConfig.read(cfg.resolve("unet/config.json"))).parameterCount());
        assertEquals(83_653_863L,
                AutoencoderKL.unloaded(AutoencoderKLConfig.read(cfg.resolve("vae/config.json"))).parameterCount());
        assertEquals(123_060_480L,
                new ClipTextModel(ClipTextConfig.read(cfg.resolve("text_encoder/config.json"))).parameterCount());
    }

    @Test
    void aCheckpointOfAnotherShapeFailsListingTheMismatchesAndATokenizerIsRequired(@TempDir Path tmp)
            throws Exception {
        Path single = Fixtures.require("single_file_sd1").resolve("sd1-tiny.safetensors");
        Path ckpt = tmp.resolve("tiny.safetensors");
        Files.createSymbolicLink(ckpt, single);
        IllegalArgumentException noTok = assertThrows(IllegalArgumentException.class, () ->
                SdLoader.openSingleFile(ckpt, "tiny", Pipelines.Options.cpu()));
        assertTrue(noTok.getMessage().contains("tokenizer"), noTok.getMessage());

        Files.createSymbolicLink(tmp.resolve("tiny.tokenizer"),
                Fixtures.root().resolve("pipeline_sd1/model/tokenizer"));
        WeightMismatchException e = assertThrows(WeightMismatchException.class, () ->
                SdLoader.openSingleFile(ckpt, "tiny", Pipelines.Options.cpu()));
        assertFalse(e.wrongShape().isEmpty(), "the tiny weights do not fit SD 1.5's shapes: " + e.getMessage());
    }
}
