package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import javax.imageio.ImageIO;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Image-to-image against diffusers' {@code StableDiffusionImg2ImgPipeline}, seeded by generator only ({@code img2img/*}
 * cases): the folder's model as published (PNDM scheduler, safety checker beside it), the case's scheduler swapped
 * in, the init image encoded and sampled from the VAE posterior before the noise is drawn, the schedule entered at
 * {@code steps - floor(steps x strength)}. Tolerance from the fixtures README: max|diff| <= 2e-3 on the [0, 1] image.
 */
class ImageToImageParityTest {

    private static final double TOL = 2e-3;

    @TestFactory
    Stream<DynamicTest> img2img() {
        List<Path> cases = Fixtures.cases("img2img");
        if (cases.isEmpty()) {
            return Stream.of(DynamicTest.dynamicTest("img2img (absent)", () -> Fixtures.require("img2img/sd15")));
        }
        return cases.stream().map(c -> DynamicTest.dynamicTest(Fixtures.displayName(c), () -> run(c)));
    }

    private static void run(Path c) throws IOException {
        JsonNode meta = Fixtures.meta(c);
        Path model = c.resolve(meta.get("model").asText()).normalize();
        String name = Fixtures.displayName(c);
        try (DiffusionPipeline base = Pipelines.open(model, LoadOptions.cpu());
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            DiffusionPipeline pipe = base.withScheduler(SchedulerSelection.read(c.resolve("scheduler_config.json")));
            long[] shape = io.info("image").shape();
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.get("negative_prompt").asText(), (int) shape[3], (int) shape[2],
                    meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                    meta.get("seed").asLong()).withInit(new GenerationRequest.InitImage(
                    ImageIO.read(c.resolve(meta.get("init_image").asText()).toFile()),
                    meta.get("strength").asDouble()));
            int[] steps = {0};
            NDArray image = pipe.render(r, job, new GenerationListener() {
                @Override
                public void onStep(int step, int total, double sigma) {
                    steps[0]++;
                }
            }).image();
            int expected = (int) (r.steps() * r.init().strength());
            assertEquals(expected, steps[0], "image-to-image runs floor(steps x strength) steps");
            double e = Close.assertMaxAbs(name + " image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("%s image %.3e", name, e));
        }
    }
}
