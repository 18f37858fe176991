package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.List;

/**
 * Text-to-image on model folders as they are published ({@code layouts/<case>}: the released {@code model_index.json},
 * scheduler class and config keys, every text encoder), seeded by generator only, against diffusers. Tolerance from
 * the fixtures README: max|diff| <= 2e-3 on the [0, 1] image. Cases are found by listing {@code layouts/}
 * ({@code -Dlayouts=a,b} runs a subset). Every family's layouts run, FLUX.1-dev and -schnell included.
 */
class PublishedLayoutsParityTest {

    private static final double TOL = 2e-3;
    private static final String SUBSET = System.getProperty("layouts", "");

    @TestFactory
    List<DynamicTest> layouts() {
        List<Path> cases = Fixtures.cases("layouts").stream()
                .filter(c -> SUBSET.isEmpty() || List.of(SUBSET.split(",")).contains(c.getFileName().toString()))
                .toList();
        return Fixtures.eachCase(cases, "layouts", PublishedLayoutsParityTest::run);
    }

    /** The T5 context length the reference ran with (SD3 and FLUX families). */
    private static DiffusionPipeline withMaxSequenceLength(DiffusionPipeline base, int length) {
        return base.architecture() instanceof FluxFamily ? FluxFamily.withMaxSequenceLength(base, length)
                : StableDiffusion3Family.withMaxSequenceLength(base, length);
    }

    private static void run(Path c) {
        JsonNode meta = Fixtures.meta(c);
        String name = Fixtures.displayName(c);
        try (DiffusionPipeline base = Pipelines.open(c.resolve("model"), LoadOptions.cpu());
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            DiffusionPipeline pipe = meta.has("max_sequence_length")
                    ? withMaxSequenceLength(base, meta.get("max_sequence_length").asInt()) : base;
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
