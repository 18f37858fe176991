package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerCatalog.NoiseSpace;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every sampler of the catalogue through a real fixture pipeline of its noise space (SD 1.x for diffusion, SD 3 for
 * flow, the SD 1.x UNet under an EDM scheduler config for EDM) at the edges of a run: 1, 2 and 3 steps, text to image
 * and image to image at strength 0.5 (a run entering its schedule part-way), on the model's levels and, for samplers
 * that take them, Karras levels. Each must give an image in [0, 1]: no index past the schedule, no NaN from a first or
 * last step, no history a short run does not have.
 */
class EverySamplerRunsTest {

    @Test
    void diffusionSamplers() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("pipeline_sd1/model"), LoadOptions.cpu())) {
            runAll(pipe, NoiseSpace.DIFFUSION);
        }
    }

    @Test
    void flowSamplers() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("pipeline_sd3/model"), LoadOptions.cpu())) {
            runAll(pipe, NoiseSpace.FLOW);
        }
    }

    @Test
    void edmSamplers() throws IOException {
        Path model = Fixtures.require("pipeline_sd1/model");
        Path folder = Files.createTempDirectory("jdiffuse-edm-all-");
        try {
            for (String part : List.of("unet", "vae", "text_encoder", "tokenizer", "model_index.json")) {
                Files.createSymbolicLink(folder.resolve(part), model.toAbsolutePath().resolve(part));
            }
            Files.createDirectories(folder.resolve("scheduler"));
            Files.writeString(folder.resolve("scheduler/scheduler_config.json"), """
                    {"_class_name": "EDMEulerScheduler", "sigma_min": 0.002, "sigma_max": 80.0, "sigma_data": 0.5,
                     "sigma_schedule": "karras", "num_train_timesteps": 1000, "prediction_type": "epsilon"}
                    """);
            try (DiffusionPipeline pipe = Pipelines.open(folder, LoadOptions.cpu())) {
                runAll(pipe, NoiseSpace.EDM);
            }
        } finally {
            try (var paths = Files.walk(folder)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void runAll(DiffusionPipeline pipe, NoiseSpace space) {
        List<String> names = SamplerCatalog.of(space).stream().map(SamplerCatalog.Entry::name).toList();
        assertEquals(names, pipe.samplers(), "the model offers its space's samplers");
        BufferedImage init = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                init.setRGB(x, y, (x * 4) << 16 | (y * 4) << 8 | 128);
            }
        }
        List<String> failures = new ArrayList<>();
        for (SamplerCatalog.Entry e : SamplerCatalog.of(space)) {
            List<String> schedules = e.sigmaSpaced() ? List.of("default", "karras") : List.of("default");
            for (String schedule : schedules) {
                for (int steps = 1; steps <= 3; steps++) {
                    GenerationRequest r = GenerationRequest.of("a red apple", "blurry", 64, 64, steps, 3.0, 5)
                            .withSampler(e.name(), schedule);
                    check(pipe, r, e.name() + " / " + schedule + " / " + steps + " steps", failures);
                }
                GenerationRequest img2img = GenerationRequest.of("a red apple", "blurry", 64, 64, 4, 3.0, 5)
                        .withSampler(e.name(), schedule).withInit(new GenerationRequest.InitImage(init, 0.5));
                check(pipe, img2img, e.name() + " / " + schedule + " / image to image", failures);
            }
        }
        assertTrue(failures.isEmpty(), failures.size() + " runs failed: " + failures);
    }

    private static void check(DiffusionPipeline pipe, GenerationRequest r, String what, List<String> failures) {
        try {
            for (float v : pixels(pipe, r)) {
                if (!(v >= 0 && v <= 1)) {
                    failures.add(what + ": pixel " + v);
                    return;
                }
            }
        } catch (RuntimeException ex) {
            failures.add(what + ": " + ex);
        }
    }
}
