package dev.jdiffuse.server.models;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What a models folder holds besides models is not loaded as one: the parts single files take from beside them
 * (SD 3.5 / FLUX {@code text_encoders/}, FLUX's {@code ae.safetensors} or {@code vae/ae.safetensors}, the diffusers
 * {@code vae/} beside an SD 3 MMDiT GGUF), config and tokenizer folders, TAESD, hidden entries; checkpoints and
 * diffusers folders are.
 */
class ModelEntryFilterTest {

    @TempDir
    Path dir;

    @Test
    void skipsWhatSingleFilesTakeFromBesideThem() throws Exception {
        Path flux = Files.createFile(dir.resolve("flux1-dev.safetensors"));
        Path ae = Files.createFile(dir.resolve("ae.safetensors"));
        Path vaeDir = Files.createDirectories(dir.resolve("vae"));
        Files.createFile(vaeDir.resolve("ae.safetensors"));
        Path encoders = Files.createDirectories(dir.resolve("text_encoders"));
        Path config = Files.createDirectories(dir.resolve("flux1-dev.config"));
        Path folder = Files.createDirectories(dir.resolve("sd15"));
        Path otherVae = Files.createDirectories(dir.resolve("other").resolve("vae"));

        assertTrue(ModelLoaders.isModelEntry(flux));
        assertTrue(ModelLoaders.isModelEntry(folder));
        assertFalse(ModelLoaders.isModelEntry(ae));
        assertFalse(ModelLoaders.isModelEntry(vaeDir));
        assertFalse(ModelLoaders.isModelEntry(encoders));
        assertFalse(ModelLoaders.isModelEntry(config));
        // a folder named vae without BFL's autoencoder in it is not this case: it is tried (and logged if broken)
        assertTrue(ModelLoaders.isModelEntry(otherVae));
    }

    @Test
    void skipsTheDiffusersVaeFolderBesideAnMmditGguf() throws Exception {
        Path gguf = Files.createFile(dir.resolve("sd3.5_large-Q8_0.gguf"));
        Path vae = Files.createDirectories(dir.resolve("vae"));
        Files.createFile(vae.resolve("config.json"));
        Files.createFile(vae.resolve("diffusion_pytorch_model.safetensors"));
        assertTrue(ModelLoaders.isModelEntry(gguf));
        assertFalse(ModelLoaders.isModelEntry(vae));
        // with a pipeline index it is a diffusers pipeline folder (named vae), tried as a model
        Files.createFile(vae.resolve("model_index.json"));
        assertTrue(ModelLoaders.isModelEntry(vae));
    }
}
