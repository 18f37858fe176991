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

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

/**
 * Text-to-image on model folders as they are published ({@code layouts/<case>}: the released {@code model_index.json},
 * scheduler class and config keys, every text encoder), seeded by generator only, against diffusers. Tolerance from
 * the fixtures README: max|diff| <= 2e-3 on the [0, 1] image. Cases are found by listing {@code layouts/}
 * ({@code -Dlayouts=a,b} runs a subset). A case whose pipeline class no family serves yet (FLUX, planned next) is not
 * a parity case: its test asserts the clear refusal and prints a notice naming the missing family, as the fixtures
 * README asks (never reported as matching).
 */
class PublishedLayoutsParityTest {

    private static final double TOL = 2e-3;
    private static final String SUBSET = System.getProperty("layouts", "");

    @TestFactory
    List<DynamicTest> layouts() {
        List<Path> cases = Fixtures.cases("layouts").stream()
                .filter(c -> SUBSET.isEmpty() || List.of(SUBSET.split(",")).contains(c.getFileName().toString()))
                .toList();
        return Fixtures.eachCase(cases, "layouts", c -> {
            String cls = Fixtures.meta(c).path("pipeline_class").asText(pipelineClass(c));
            if (cls.startsWith("Flux")) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> Pipelines.open(c.resolve("model"), Pipelines.Options.cpu()).close());
                assertTrue(e.getMessage().contains(cls), e.getMessage());
                System.out.println("NOTICE " + Fixtures.displayName(c) + ": not a parity case yet, the FLUX family ("
                        + cls + ") is not implemented; the folder is refused: " + e.getMessage());
                return;
            }
            run(c);
        });
    }

    private static String pipelineClass(Path c) throws java.io.IOException {
        return new com.fasterxml.jackson.databind.ObjectMapper().readTree(c.resolve("model/model_index.json").toFile())
                .path("_class_name").asText("");
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
