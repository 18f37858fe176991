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
        compare("ComfyUI checkpoint", file,
                FluxSingleFileWriter.minimalConfig(model, tmp.resolve("flux-tiny.config")));
    }

    @Test
    void bflTransformerFileWithItsPartsBesideReproducesTheFolder() throws Exception {
        Fixtures.require(CASE);
        Path model = Fixtures.root().resolve(CASE).resolve("model");
        Path file = FluxSingleFileWriter.bflFiles(model, tmp.resolve("models"), "flux1-tiny");
        compare("BFL transformer + ae + text_encoders", file,
                FluxSingleFileWriter.minimalConfig(model, tmp.resolve("cfg")));
    }

    @Test
    void aTransformerAloneIsRefusedNamingWhatIsMissing() throws Exception {
        Fixtures.require(CASE);
        Path model = Fixtures.root().resolve(CASE).resolve("model");
        Path file = FluxSingleFileWriter.bflFiles(model, tmp.resolve("alone"), "flux1-tiny");
        Files.delete(tmp.resolve("alone/ae.safetensors"));
        Files.delete(tmp.resolve("alone/text_encoders/t5xxl_fp16.safetensors"));
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class, () -> Pipelines.open(file,
                LoadOptions.cpu().withSingleFileConfig(FluxSingleFileWriter.minimalConfig(model, tmp.resolve("c"))))
                .close());
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
}
