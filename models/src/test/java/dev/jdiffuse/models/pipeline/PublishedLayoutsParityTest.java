package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Text-to-image on model folders as they are published ({@code layouts/<case>}: the released {@code model_index.json},
 * scheduler class and config keys, every text encoder), seeded by generator only, against diffusers. Tolerance from
 * the fixtures README: max|diff| <= 2e-3 on the [0, 1] image. {@link #CASES} are the layouts that match today
 * (SD 1.5 with its PNDM scheduler as PLMS, SD 2.1 v-prediction, SDXL base with guidance and an encoded empty
 * negative prompt, SDXL-Turbo, SD 3.5 with its T5 encoder); {@code -Dlayouts=...} runs a subset.
 */
class PublishedLayoutsParityTest {

    private static final double TOL = 2e-3;
    static final List<String> CASES = List.of(System.getProperty("layouts", "sd15,sd2v,sdxl,sdxl_turbo,sd35")
            .split(","));

    @TestFactory
    Stream<DynamicTest> layouts() {
        return CASES.stream().map(c -> DynamicTest.dynamicTest("layouts/" + c, () -> run(Fixtures.require(
                "layouts/" + c))));
    }

    private static void run(Path c) {
        JsonNode meta = Fixtures.meta(c);
        String name = Fixtures.displayName(c);
        try (DiffusionPipeline base = Pipelines.open(c.resolve("model"), Pipelines.Options.cpu());
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            DiffusionPipeline pipe = meta.has("max_sequence_length")
                    ? StableDiffusion3Family.withMaxSequenceLength(base, meta.get("max_sequence_length").asInt())
                    : base;
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.path("negative_prompt").asText(""), meta.get("width").asInt(), meta.get("height").asInt(),
                    meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                    meta.get("seed").asLong());
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            double e = Close.assertMaxAbs(name + " image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("%s image %.3e", name, e));
        }
    }
}
