package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Several ControlNets are summed, as diffusers' MultiControlNet does: residuals are linear in the conditioning scale,
 * so the same ControlNet twice at 0.3 and 0.4 must equal it once at 0.7, and differ from 0.3 alone; a ControlNet
 * outside its [start, end] window changes nothing.
 */
class MultiControlNetTest {

    @Test
    void residualsOfSeveralControlNetsAdd() throws IOException {
        Path dir = Fixtures.require("pipeline_controlnet");
        BufferedImage control = ImageIO.read(dir.resolve("control.png").toFile());
        try (DiffusionPipeline pipe = SdLoader.openFolder(dir.resolve("model"), "cn", LoadOptions.cpu())) {
            String cn = pipe.controlnets().get(0);
            float[] twice = run(pipe, List.of(new ControlSpec(cn, control, 0.3, 0, 1),
                    new ControlSpec(cn, control, 0.4, 0, 1)));
            float[] once = run(pipe, List.of(new ControlSpec(cn, control, 0.7, 0, 1)));
            float[] weaker = run(pipe, List.of(new ControlSpec(cn, control, 0.3, 0, 1)));
            float[] none = run(pipe, List.of());
            float[] outside = run(pipe, List.of(new ControlSpec(cn, control, 0.7, 0.9, 1.0)));
            assertTrue(maxDiff(twice, once) < 1e-4, "0.3 + 0.4 == 0.7: " + maxDiff(twice, once));
            assertTrue(maxDiff(once, weaker) > 1e-3, "scale matters: " + maxDiff(once, weaker));
            assertTrue(maxDiff(outside, none) < 1e-6, "inactive window: " + maxDiff(outside, none));
        }
    }

    /** A ControlNet the model lacks is named by its index in the request, before anything runs. */
    @Test
    void anUnknownControlNetIsNamedByItsIndex() throws IOException {
        Path dir = Fixtures.require("pipeline_controlnet");
        BufferedImage control = ImageIO.read(dir.resolve("control.png").toFile());
        try (DiffusionPipeline pipe = SdLoader.openFolder(dir.resolve("model"), "cn", LoadOptions.cpu())) {
            GenerationRequest r = GenerationRequest.of("a blue circle", "", 64, 64, 3, 4.0, 5).withControlnets(
                    List.of(new ControlSpec(pipe.controlnets().get(0), control, 0.5, 0, 1),
                            new ControlSpec("canny", control, 0.5, 0, 1)));
            List<FieldError> errors = pipe.check(r);
            assertEquals(List.of(new FieldError("controlnets[1].model", "unknown_controlnet", errors.get(0).message())),
                    errors);
            assertEquals(errors, assertThrows(InvalidRequestException.class,
                    () -> pipe.generate(r, GenerationListener.NONE)).errors());
            assertEquals("width", pipe.check(GenerationRequest.of("x", "", 68, 64, 3, 4.0, 5)).get(0).field());
        }
    }

    private static float[] run(DiffusionPipeline pipe, List<ControlSpec> controls) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            GenerationRequest r = GenerationRequest.of("a blue circle", "", 64, 64, 3, 4.0, 5)
                    .withSampler("euler", "default").withControlnets(controls);
            TorchCpuNoise noise = new TorchCpuNoise(5);
            NDArray init = noise.normal(job, pipe.latentShape(r));
            return pipe.run(r, job, init, noise, GenerationListener.NONE).image().toFloatArray();
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
