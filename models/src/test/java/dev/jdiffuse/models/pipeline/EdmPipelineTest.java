package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A UNet folder whose scheduler is diffusers' EDMDPMSolverMultistepScheduler (Playground v2.5's layout: sigma_data
 * 0.5, Karras levels from 80 to 0.002), here the tiny SD 1.x fixture with that scheduler config: the model runs under
 * EDM's preconditioning (checked numerically in the samplers module's {@code EdmAdaptTest}), defaults to
 * {@code edm_dpmpp_2m}, offers the k-diffusion methods as {@code edm_} entries and no discrete-time ones; two-step runs
 * of DPM++ 2M and Euler agree (the first step is Euler's, the last lands on the prediction); the stochastic ones are
 * seeded.
 */
class EdmPipelineTest {

    private static DiffusionPipeline pipe;
    private static Path folder;

    @BeforeAll
    static void load() throws IOException {
        Path model = Fixtures.require("pipeline_sd1/model");
        folder = Files.createTempDirectory("jdiffuse-edm-");
        for (String part : List.of("unet", "vae", "text_encoder", "tokenizer", "model_index.json")) {
            Files.createSymbolicLink(folder.resolve(part), model.toAbsolutePath().resolve(part));
        }
        Files.createDirectories(folder.resolve("scheduler"));
        Files.writeString(folder.resolve("scheduler/scheduler_config.json"), """
                {"_class_name": "EDMDPMSolverMultistepScheduler", "sigma_min": 0.002, "sigma_max": 80.0,
                 "sigma_data": 0.5, "sigma_schedule": "karras", "num_train_timesteps": 1000,
                 "prediction_type": "epsilon", "rho": 7.0, "solver_order": 2, "final_sigmas_type": "zero"}
                """);
        pipe = SdLoader.openFolder(folder, "edm", LoadOptions.cpu());
    }

    @AfterAll
    static void close() throws IOException {
        if (pipe != null) {
            pipe.close();
        }
        if (folder != null) {
            try (var paths = Files.walk(folder)) {
                paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static GenerationRequest request(int steps, String sampler, long seed) {
        return GenerationRequest.of("a red apple on a table", "blurry", 64, 64, steps, 5.0, seed)
                .withSampler(sampler, "default");
    }

    @Test
    void edmModelsRunTheKdiffusionMethods() {
        assertEquals("edm_dpmpp_2m", pipe.defaults().sampler());
        assertTrue(pipe.samplers().containsAll(List.of("edm_euler", "edm_dpmpp_2m", "edm_euler_ancestral",
                "edm_dpmpp_2m_sde", "edm_dpmpp_3m_sde", "edm_euler_cfg_pp")), pipe.samplers().toString());
        assertTrue(!pipe.samplers().contains("ddim") && !pipe.samplers().contains("dpmpp_2m"), "EDM entries only");
        double[] sigmas = pipe.schedule(request(10, null, 1)).sigmas();
        assertEquals(80.0, sigmas[0], 1e-9);
        assertEquals(0.0, sigmas[10]);
        float[] euler = pixels(pipe, request(2, "edm_euler", 3));
        // equal up to float32 rounding of a state 80 times the data's scale (measured 4.8e-5 on [0, 1] pixels)
        assertTrue(maxAbs(euler, pixels(pipe, request(2, "edm_dpmpp_2m", 3))) < 5e-4,
                "two steps of DPM++ 2M are Euler's");
        for (String sampler : List.of("edm_euler_ancestral", "edm_dpmpp_2m_sde", "edm_dpmpp_sde")) {
            float[] a = pixels(pipe, request(6, sampler, 3));
            for (float v : a) {
                assertTrue(v >= 0 && v <= 1, sampler + " pixel " + v);
            }
            assertArrayEquals(a, pixels(pipe, request(6, sampler, 3)), sampler + " repeats");
            assertTrue(maxAbs(a, pixels(pipe, request(6, sampler, 4))) > 1e-3, sampler + ": another seed");
        }
    }
}
