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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Inpainting against diffusers' {@code StableDiffusionInpaintPipeline}, seeded by generator only ({@code inpaint/*}
 * cases): a 9-channel inpainting UNet (mask and masked-image latents concatenated to the scaled latents) and an
 * ordinary model (the known region re-noised and blended back after each step). The model is the case's
 * {@code model/} folder or the one {@code meta.json} names, with the case's {@code scheduler_config.json} when there is
 * one. Draws as diffusers: the init image's posterior sample (unless a 9-channel model starts from noise at strength
 * 1), the noise, the masked image's posterior sample. Tolerance from the fixtures README: max|diff| <= 2e-3.
 */
class InpaintParityTest {

    private static final double TOL = 2e-3;

    @TestFactory
    Stream<DynamicTest> inpaint() {
        List<Path> cases = Fixtures.cases("inpaint");
        if (cases.isEmpty()) {
            return Stream.of(DynamicTest.dynamicTest("inpaint (absent)", () -> Fixtures.require("inpaint/sd15_9ch")));
        }
        return cases.stream().map(c -> DynamicTest.dynamicTest(Fixtures.displayName(c), () -> run(c)));
    }

    private static void run(Path c) throws IOException {
        JsonNode meta = Fixtures.meta(c);
        Path model = c.resolve(meta.has("model") ? meta.get("model").asText() : "model").normalize();
        Path schedulerConfig = c.resolve("scheduler_config.json");
        String name = Fixtures.displayName(c);
        try (DiffusionPipeline base = Pipelines.open(model, LoadOptions.cpu());
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            DiffusionPipeline pipe = Files.isRegularFile(schedulerConfig)
                    ? base.withScheduler(SchedulerSelection.read(schedulerConfig)) : base;
            long[] shape = io.info("image").shape();
            GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.get("negative_prompt").asText(), (int) shape[3], (int) shape[2],
                    meta.get("num_inference_steps").asInt(), meta.get("guidance_scale").asDouble(),
                    meta.get("seed").asLong())
                    .withInit(new GenerationRequest.InitImage(ImageIO.read(c.resolve("init.png").toFile()),
                            meta.get("strength").asDouble()))
                    .withInpaint(GenerationRequest.Inpaint.of(ImageIO.read(c.resolve("mask.png").toFile())));
            NDArray image = pipe.render(r, job, GenerationListener.NONE).image();
            double e = Close.assertMaxAbs(name + " image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);
            Close.report(String.format("%s image %.3e", name, e));
        }
    }
}
