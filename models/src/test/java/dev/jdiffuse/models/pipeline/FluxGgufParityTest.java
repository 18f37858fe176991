package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.checkpoint.CheckpointFormatException;
import dev.jdiffuse.models.pipeline.FluxSingleFileWriter.GgufStorage;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import dev.jdiffuse.testkit.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FLUX.1 transformers as GGUF files (ComfyUI-GGUF's layout: bare Black Forest Labs names, ggml dimensions innermost
 * first, {@code ae.safetensors} and {@code text_encoders/} beside) reproduce the diffusers folder's image
 * ({@code layouts/flux_dev} / {@code flux_schnell}): with F32 or F16 tensors as exactly as the safetensors single file
 * does (max|diff| <= 2e-3, {@link FluxSingleFileParityTest}'s tolerance; the fixture's BF16 weights are exact in both),
 * so a transposed or misordered tensor fails. Q8_0 (2-D weights quantized, norms and biases F32, as city96's files)
 * must stay within 2e-2 of the [0, 1] image: each weight moves by at most half a step of its block's max / 127 plus the
 * fp16 rounding of that scale (under 0.5% of the block's largest weight), far below the O(1) change of a layout error;
 * and it must differ from the exact image, showing the quantized path was taken.
 */
class FluxGgufParityTest {

    private static final double TOL = 2e-3;
    private static final double Q8_BOUND = 2e-2;

    @TempDir
    Path tmp;

    @Test
    void f16GgufReproducesTheFolder() throws Exception {
        double e = maxDiff("layouts/flux_dev", GgufStorage.F16);
        Close.report(String.format("GGUF F16 vs layouts/flux_dev image %.3e", e));
        assertTrue(e <= TOL, "max|diff| " + e);
    }

    @Test
    void f32GgufOfSchnellReproducesTheFolder() throws Exception {
        double e = maxDiff("layouts/flux_schnell", GgufStorage.F32);
        Close.report(String.format("GGUF F32 vs layouts/flux_schnell image %.3e", e));
        assertTrue(e <= TOL, "max|diff| " + e);
    }

    @Test
    void q8_0GgufStaysCloseToTheFolder() throws Exception {
        double e = maxDiff("layouts/flux_dev", GgufStorage.Q8_0);
        Close.report(String.format("GGUF Q8_0 vs layouts/flux_dev image %.3e", e));
        assertTrue(e <= Q8_BOUND, "max|diff| " + e + " over the Q8_0 sanity bound " + Q8_BOUND);
        assertTrue(e > 1e-6, "Q8_0 weights should change the image a little: " + e);
    }

    @Test
    void aGgufOfAnotherFamilyIsRefusedNamingWhatItHolds() {
        Path f = tmp.resolve("sdxl-unet-Q8_0.gguf");
        new GgufWriter().f32("input_blocks.0.0.weight", new long[] {32, 4, 3, 3}, new float[32 * 4 * 9])
                .write(f);
        CheckpointFormatException e = assertThrows(CheckpointFormatException.class,
                () -> Pipelines.open(f, LoadOptions.cpu()).close());
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("Stable Diffusion UNet")
                && e.getMessage().contains("ae.safetensors"), e.getMessage());
        assertEquals("sdxl-unet-Q8_0", Pipelines.nameOf(f));
    }

    private double maxDiff(String fixture, GgufStorage storage) throws Exception {
        Fixtures.require(fixture);
        Path c = Fixtures.root().resolve(fixture);
        Path model = c.resolve("model");
        Path file = FluxSingleFileWriter.ggufFiles(model, tmp.resolve("models"), "flux1-tiny-" + storage, storage);
        Path config = FluxSingleFileWriter.minimalConfig(model, tmp.resolve("cfg-" + storage));
        JsonNode meta = Fixtures.meta(c);
        try (DiffusionPipeline base = Pipelines.open(file, LoadOptions.cpu().withSingleFileConfig(config));
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            assertEquals("flux", base.family());
            assertEquals("flux1-tiny-" + storage, base.name());
            DiffusionPipeline pipe = FluxFamily.withMaxSequenceLength(base, meta.get("max_sequence_length").asInt());
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(), "", meta.get("width").asInt(),
                    meta.get("height").asInt(), meta.get("num_inference_steps").asInt(),
                    meta.get("guidance_scale").asDouble(), meta.get("seed").asLong());
            float[] image = pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
            float[] expected = io.toFloatArray("image");
            assertEquals(expected.length, image.length);
            double worst = 0;
            for (int i = 0; i < image.length; i++) {
                worst = Math.max(worst, Math.abs(image[i] - expected[i]));
            }
            return worst;
        }
    }
}
