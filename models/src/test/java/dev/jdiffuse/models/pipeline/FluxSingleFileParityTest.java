package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FLUX.1 single files reproduce the diffusers folder's image ({@code layouts/flux_dev}, the fixture's reference, max|diff|
 * <= 2e-3): a ComfyUI checkpoint holding everything, and Black Forest Labs' transformer-only file with
 * {@code ae.safetensors} and {@code text_encoders/} beside it. The tiny test model needs a few things real FLUX.1 files
 * do not (its RoPE axes for head width 16, its own small CLIP vocabulary, head and group counts its tiny widths do
 * not imply): those come from a config folder holding the transformer, VAE and CLIP configs and the tokenizers; T5's
 * hyper-parameters are detected and the scheduler is FLUX.1-dev's default. A transformer file with nothing beside it is refused naming each
 * missing part.
 */
class FluxSingleFileParityTest {

    private static final double TOL = 2e-3;
    private static final String CASE = "layouts/flux_dev";

    @TempDir
    Path tmp;

    @Test
    void comfyCheckpointReproducesTheFolder() throws Exception {
        Fixtures.require(CASE);
        Path model = Fixtures.root().resolve(CASE).resolve("model");
        Path file = tmp.resolve("flux-tiny.safetensors");
        FluxSingleFileWriter.comfyCheckpoint(model, file);
        compare("ComfyUI checkpoint", file, minimalConfig(model, tmp.resolve("flux-tiny.config")));
    }

    @Test
    void bflTransformerFileWithItsPartsBesideReproducesTheFolder() throws Exception {
        Fixtures.require(CASE);
        Path model = Fixtures.root().resolve(CASE).resolve("model");
        Path file = FluxSingleFileWriter.bflFiles(model, tmp.resolve("models"), "flux1-tiny");
        compare("BFL transformer + ae + text_encoders", file, minimalConfig(model, tmp.resolve("cfg")));
    }

    @Test
    void aTransformerAloneIsRefusedNamingWhatIsMissing() throws Exception {
        Fixtures.require(CASE);
        Path model = Fixtures.root().resolve(CASE).resolve("model");
        Path file = FluxSingleFileWriter.bflFiles(model, tmp.resolve("alone"), "flux1-tiny");
        Files.delete(tmp.resolve("alone/ae.safetensors"));
        Files.delete(tmp.resolve("alone/text_encoders/t5xxl_fp16.safetensors"));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> Pipelines.open(file,
                LoadOptions.cpu().withSingleFileConfig(minimalConfig(model, tmp.resolve("c")))).close());
        assertTrue(e.getMessage().contains("T5") && e.getMessage().contains("ae.safetensors")
                && !e.getMessage().contains("CLIP-L"), e.getMessage());
    }

    private static void compare(String what, Path file, Path config) {
        Path c = Fixtures.root().resolve(CASE);
        JsonNode meta = Fixtures.meta(c);
        try (DiffusionPipeline base = Pipelines.open(file, LoadOptions.cpu().withSingleFileConfig(config));
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            assertEquals("flux", base.family());
            DiffusionPipeline pipe = FluxFamily.withMaxSequenceLength(base, meta.get("max_sequence_length").asInt());
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(), "", meta.get("width").asInt(),
                    meta.get("height").asInt(), meta.get("num_inference_steps").asInt(),
                    meta.get("guidance_scale").asDouble(), meta.get("seed").asLong());
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            double e = Close.assertMaxAbs(what + " image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("%s vs %s image %.3e", what, CASE, e));
        }
    }

    /** Only what the tiny model cannot be detected by; T5's config and the scheduler are detected / defaulted. */
    static Path minimalConfig(Path model, Path dir) throws IOException {
        // transformer: RoPE axes are not in the file; vae, text_encoder: the tiny widths (VAE 16..32, CLIP 32) break
        // the conventions that read real FLUX.1 files (32 groups, 64-wide heads), so their configs are given too
        for (String component : new String[] {"transformer", "vae", "text_encoder"}) {
            Files.createDirectories(dir.resolve(component));
            Files.copy(model.resolve(component + "/config.json"), dir.resolve(component + "/config.json"));
        }
        for (String t : new String[] {"tokenizer", "tokenizer_2"}) {
            Files.createDirectories(dir.resolve(t));
            try (var s = Files.list(model.resolve(t))) {
                for (Path p : s.toList()) {
                    Files.copy(p, dir.resolve(t).resolve(p.getFileName()));
                }
            }
        }
        return dir;
    }
}
