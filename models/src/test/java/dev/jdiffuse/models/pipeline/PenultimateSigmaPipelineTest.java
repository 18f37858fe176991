package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.schedulers.PenultimateSigma;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code discardPenultimateSigma} through the real pipeline (the tiny SD 1.x fixture, CPU fp32): the job runs
 * {@code steps} steps on the levels of {@code steps + 1} without the next-to-last one, as ComfyUI's KSampler and
 * A1111's {@code get_sigmas} do; image to image enters that schedule.
 */
class PenultimateSigmaPipelineTest {

    private static DiffusionPipeline pipe;

    @BeforeAll
    static void load() {
        pipe = SdLoader.openFolder(Fixtures.require("pipeline_sd1/model"), "sd1", LoadOptions.cpu());
    }

    @AfterAll
    static void close() {
        pipe.close();
    }

    private static GenerationRequest request(int steps, String sampler, String schedule) {
        return GenerationRequest.of("a red apple on a table", "blurry", 64, 64, steps, 5.0, 11)
                .withSampler(sampler, schedule);
    }

    @Test
    void theScheduleIsOneStepMoreWithoutItsNextToLastLevel() {
        for (String schedule : List.of("karras", "default", "exponential")) {
            SamplingSchedule longer = pipe.schedule(request(6, "dpm_2", schedule));
            SamplingSchedule plain = pipe.schedule(request(5, "dpm_2", schedule));
            SamplingSchedule dropped = pipe.schedule(request(5, "dpm_2", schedule).withDiscardPenultimateSigma(true));
            assertEquals(5, dropped.steps(), schedule);
            assertArrayEquals(PenultimateSigma.discard(longer.sigmas()), dropped.sigmas(), 0.0, schedule);
            assertArrayEquals(Arrays.copyOf(longer.timesteps(), 5), dropped.timesteps(), 0.0, schedule);
            assertEquals(plain.sigma(5), dropped.sigma(5), 0.0, schedule + ": same final level");
            assertFalse(Arrays.equals(plain.sigmas(), dropped.sigmas()), schedule + ": not the 5-step levels");
        }
    }

    @Test
    void theJobVisitsTheDroppedLevelsAndTheImageChanges() {
        GenerationRequest r = request(4, "dpm_2", "karras").withDiscardPenultimateSigma(true);
        List<Double> reported = new ArrayList<>();
        List<Integer> totals = new ArrayList<>();
        GenerationResult result = pipe.generate(r, new GenerationListener() {
            @Override
            public void onStep(int step, int steps, double sigma) {
                reported.add(sigma);
                totals.add(steps);
            }
        });
        double[] expected = PenultimateSigma.discard(pipe.schedule(request(5, "dpm_2", "karras")).sigmas());
        assertArrayEquals(expected, result.sigmas(), 0.0);
        assertEquals(List.of(4, 4, 4, 4), totals, "still the request's 4 steps");
        assertEquals(0.0, reported.get(3), 0.0, "the last step lands on the final level");
        double moved = maxAbs(pixels(pipe, r), pixels(pipe, request(4, "dpm_2", "karras")));
        assertTrue(moved > 1e-3, "the dropped level changes the image: " + moved);
    }

    /** ComfyUI's denoise and A1111's img2img slice the dropped levels: the run is the dropped schedule's tail. */
    @Test
    void imageToImageEntersTheDroppedSchedule() {
        BufferedImage init = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                init.setRGB(x, y, (x * 4) << 16 | (y * 4) << 8 | 90);
            }
        }
        GenerationRequest r = request(8, "euler", "karras").withDiscardPenultimateSigma(true)
                .withInit(new GenerationRequest.InitImage(init, 0.5));
        List<Integer> totals = new ArrayList<>();
        GenerationResult result = pipe.generate(r, new GenerationListener() {
            @Override
            public void onStep(int step, int steps, double sigma) {
                totals.add(steps);
            }
        });
        double[] whole = PenultimateSigma.discard(pipe.schedule(request(9, "euler", "karras")).sigmas());
        assertArrayEquals(Arrays.copyOfRange(whole, 4, 9), result.sigmas(), 0.0, "the last 4 of the 8 steps");
        assertEquals(List.of(4, 4, 4, 4), totals);
    }
}
