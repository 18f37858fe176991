package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Whole text-to-image runs against diffusers: every {@code pipeline_sd1/<scheduler>} case with and without CFG, the
 * same from the single-file checkpoint {@code single_file_sd1}, and {@code pipeline_controlnet}. Tolerance from the
 * fixtures README: max|diff| <= 2e-3 on the [0, 1] image.
 */
class StableDiffusionPipelineParityTest {

    private static final double TOL = 2e-3;

    @TestFactory
    Stream<DynamicTest> pipelineSd1() {
        return sd1Cases(false);
    }

    @TestFactory
    Stream<DynamicTest> singleFileSd1() {
        return sd1Cases(true);
    }

    private Stream<DynamicTest> sd1Cases(boolean singleFile) {
        List<Path> cases = Fixtures.cases("pipeline_sd1").stream()
                .filter(p -> Files.exists(p.resolve("scheduler_config.json"))).toList();
        String label = singleFile ? "single_file_sd1 as " : "";
        if (cases.isEmpty() || (singleFile && !Fixtures.present("single_file_sd1"))) {
            return Stream.of(DynamicTest.dynamicTest(label + "pipeline_sd1 (absent)",
                    () -> Fixtures.require(singleFile ? "single_file_sd1" : "pipeline_sd1/ddim")));
        }
        List<DynamicTest> tests = new ArrayList<>();
        for (Path c : cases) {
            String name = label + Fixtures.displayName(c);
            tests.add(DynamicTest.dynamicTest(name, () -> runSd1Case(c, singleFile, name)));
        }
        return tests.stream();
    }

    private static DiffusionPipeline openSd1(boolean singleFile) {
        Path model = Fixtures.root().resolve("pipeline_sd1/model");
        if (!singleFile) {
            return SdLoader.openFolder(model, "pipeline_sd1", LoadOptions.cpu());
        }
        Path dir = Fixtures.require("single_file_sd1");
        String file = Fixtures.meta(dir).path("file").asText("sd1-tiny.safetensors");
        return SdLoader.openSingleFile(dir.resolve(file), "single_file_sd1",
                new LoadOptions(Device.cpu(), DataType.FLOAT32, null, model));
    }

    private static void runSd1Case(Path c, boolean singleFile, String name) {
        JsonNode meta = Fixtures.meta(c);
        try (DiffusionPipeline base = openSd1(singleFile);
                SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"));
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            DiffusionPipeline pipe = base.withScheduler(
                    SchedulerSelection.read(c.resolve("scheduler_config.json"),
                            SchedulerClass.fromDiffusersName(meta.get("scheduler").asText())));
            List<float[]> draws = new ArrayList<>();
            List<long[]> shapes = new ArrayList<>();
            for (int i = 0; io.contains("noises." + i); i++) {
                draws.add(io.toFloatArray("noises." + i));
                shapes.add(io.info("noises." + i).shape());
            }
            int half = draws.size() / 2;
            NDArray latents = job.create(io.toFloatArray("latents"), new Shape(io.info("latents").shape()));
            GenerationRequest cfg = GenerationRequest.of(meta.get("prompt").asText(),
                    meta.get("negative_prompt").asText(), meta.get("width").asInt(), meta.get("height").asInt(),
                    meta.get("steps").asInt(), meta.get("guidance_scale").asDouble(), 0);
            ReplayNoise noise = new ReplayNoise(draws.subList(0, half), shapes.subList(0, half));
            NDArray image = pipe.run(cfg, job, latents, noise, GenerationListener.NONE).image();
            noise.assertAllUsed();
            double e1 = Close.assertMaxAbs(name + " image", Close.toDouble(io.toFloatArray("image")),
                    Close.toDouble(image.toFloatArray()), TOL);

            GenerationRequest plain = GenerationRequest.of(meta.get("prompt").asText(), "",
                    meta.get("width").asInt(), meta.get("height").asInt(), meta.get("steps").asInt(), 1.0, 0);
            ReplayNoise noise2 = new ReplayNoise(draws.subList(half, draws.size()), shapes.subList(half, draws.size()));
            NDArray image1 = pipe.run(plain, job, latents, noise2, GenerationListener.NONE).image();
            noise2.assertAllUsed();
            double e2 = Close.assertMaxAbs(name + " image_guidance1", Close.toDouble(io.toFloatArray("image_guidance1")),
                    Close.toDouble(image1.toFloatArray()), TOL);
            Close.report(String.format("%s image %.3e image_guidance1 %.3e", name, e1, e2));
        }
    }

    @TestFactory
    Stream<DynamicTest> pipelineControlnet() {
        return Stream.of(DynamicTest.dynamicTest("pipeline_controlnet", () -> {
            Path dir = Fixtures.require("pipeline_controlnet");
            JsonNode meta = Fixtures.meta(dir);
            BufferedImage control = read(dir.resolve(meta.get("control_image").asText()));
            try (DiffusionPipeline pipe = SdLoader.openFolder(dir.resolve("model"), "pipeline_controlnet",
                    LoadOptions.cpu());
                    SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"));
                    NDManager job = NDManager.newBaseManager(Device.cpu())) {
                GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(), "",
                        meta.get("width").asInt(), meta.get("height").asInt(), meta.get("steps").asInt(),
                        meta.get("guidance_scale").asDouble(), 0).withControlnets(List.of(new ControlSpec(
                                pipe.controlnets().get(0), control,
                                meta.get("controlnet_conditioning_scale").asDouble(),
                                meta.get("control_guidance_start").asDouble(),
                                meta.get("control_guidance_end").asDouble())));
                NDArray latents = job.create(io.toFloatArray("latents"), new Shape(io.info("latents").shape()));
                ReplayNoise none = new ReplayNoise(List.of(), List.of());
                NDArray image = pipe.run(r, job, latents, none, GenerationListener.NONE).image();
                double e = Close.assertMaxAbs("pipeline_controlnet image", Close.toDouble(io.toFloatArray("image")),
                        Close.toDouble(image.toFloatArray()), TOL);
                Close.report(String.format("pipeline_controlnet image %.3e", e));
            }
        }));
    }

    private static BufferedImage read(Path p) {
        try {
            return ImageIO.read(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
