package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jdiffuse.models.pipeline.sd3.Sd3Loader;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The SD3 text-to-image run against diffusers' {@code StableDiffusion3Pipeline} ({@code pipeline_sd3}: two CLIP
 * encoders, no T5, flow-matching Euler, CFG), from the fixture's initial latents; the T5 context length is the
 * fixture's {@code max_sequence_length}. Tolerance from the fixtures README: max|diff| <= 2e-3 on the [0, 1] image.
 */
class StableDiffusion3PipelineParityTest {

    private static final double TOL = 2e-3;

    @TestFactory
    Stream<DynamicTest> pipelineSd3() {
        return Stream.of(DynamicTest.dynamicTest("pipeline_sd3", () -> {
            Path dir = Fixtures.require("pipeline_sd3");
            JsonNode meta = Fixtures.meta(dir);
            try (DiffusionPipeline base = Pipelines.open(dir.resolve("model"), LoadOptions.cpu());
                    SafetensorsFile io = SafetensorsFile.open(dir.resolve("io.safetensors"));
                    NDManager job = NDManager.newBaseManager(Device.cpu())) {
                assertEquals("sd3", base.family());
                DiffusionPipeline pipe = StableDiffusion3Family.withMaxSequenceLength(base,
                        meta.path("max_sequence_length").asInt(StableDiffusion3Family.DEFAULT_MAX_SEQUENCE_LENGTH));
                GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(),
                        meta.get("negative_prompt").asText(), meta.get("width").asInt(), meta.get("height").asInt(),
                        meta.get("steps").asInt(), meta.get("guidance_scale").asDouble(), 0);
                NDArray latents = job.create(io.toFloatArray("latents"), new Shape(io.info("latents").shape()));
                assertEquals(pipe.latentShape(r), latents.getShape(), "latent shape for the fixture's size");
                ReplayNoise none = new ReplayNoise(List.of(), List.of());
                NDArray image = pipe.run(r, job, latents, none, GenerationListener.NONE).image();
                double e = Close.assertMaxAbs("pipeline_sd3 image", Close.toDouble(io.toFloatArray("image")),
                        Close.toDouble(image.toFloatArray()), TOL);
                Close.report(String.format("pipeline_sd3 image %.3e", e));
            }
        }));
    }

    /** The zero T5 block takes part in attention, so its length must change the image (why it is an option). */
    @TestFactory
    Stream<DynamicTest> pipelineSd3SequenceLengthMatters() {
        return Stream.of(DynamicTest.dynamicTest("pipeline_sd3 max_sequence_length", () -> {
            Path dir = Fixtures.require("pipeline_sd3");
            JsonNode meta = Fixtures.meta(dir);
            try (DiffusionPipeline base = Sd3Loader.openFolder(dir.resolve("model"), "pipeline_sd3",
                    LoadOptions.cpu());
                    NDManager job = NDManager.newBaseManager(Device.cpu())) {
                GenerationRequest r = GenerationRequest.of(meta.get("prompt").asText(), "",
                        meta.get("width").asInt(), meta.get("height").asInt(), 2, 3.0, 7);
                NDArray noise = job.randomNormal(base.latentShape(r));
                ReplayNoise none = new ReplayNoise(List.of(), List.of());
                float[] a = StableDiffusion3Family.withMaxSequenceLength(base, 4)
                        .run(r, job, noise, none, GenerationListener.NONE).image().toFloatArray();
                float[] b = StableDiffusion3Family.withMaxSequenceLength(base, 12)
                        .run(r, job, noise, none, GenerationListener.NONE).image().toFloatArray();
                assertNotEquals(0.0, Close.maxAbs(diff(a, b)), "T5 length had no effect");
            }
        }));
    }

    /**
     * With {@code use_dynamic_shifting} the schedule follows {@code mu} of the image sequence length
     * {@code (H/8/p)(W/8/p)}, as diffusers' {@code calculate_shift} in the SD3 pipeline; a non-square request checks
     * both sides are used.
     */
    @TestFactory
    Stream<DynamicTest> pipelineSd3DynamicShift() {
        return Stream.of(DynamicTest.dynamicTest("pipeline_sd3 dynamic shifting", () -> {
            Path dir = Fixtures.require("pipeline_sd3");
            Path config = dir.resolve("model/scheduler/scheduler_config.json");
            ObjectNode node = (ObjectNode) new ObjectMapper().readTree(Files.readString(config));
            node.put("use_dynamic_shifting", true);
            SchedulerSelection dynamic = new SchedulerSelection(node.toString(), null);
            try (DiffusionPipeline base = Sd3Loader.openFolder(dir.resolve("model"), "pipeline_sd3",
                    LoadOptions.cpu())) {
                DiffusionPipeline pipe = base.withScheduler(dynamic);
                int f = base.pixelsPerLatent();
                int p = Fixtures.json(dir.resolve("model/transformer/config.json")).get("patch_size").asInt();
                int w = 2 * f * p;
                int h = 4 * f * p;
                GenerationRequest r = GenerationRequest.of("x", "", w, h, 4, 1.0, 0);
                double[] expected = DiffusersSchedules.of(dynamic.base(), 4, dynamic.base().mu(2 * 4)).sigmas();
                assertArrayEquals(expected, pipe.schedule(r).sigmas(), 0.0);
                double[] fixed = base.schedule(r).sigmas();
                assertNotEquals(fixed[1], expected[1], "dynamic shifting had no effect");
            }
        }));
    }

    /**
     * A diffusion sampler on a flow model is refused by the check naming {@code sampler} (an HTTP 400, not an
     * engine failure), as are sizes off the patch grid or beyond the position grid; generate refuses the same.
     */
    @TestFactory
    Stream<DynamicTest> pipelineSd3CheckNamesRefusedFields() {
        return Stream.of(DynamicTest.dynamicTest("pipeline_sd3 check", () -> {
            Path dir = Fixtures.require("pipeline_sd3");
            try (DiffusionPipeline pipe = Pipelines.open(dir.resolve("model"), LoadOptions.cpu())) {
                PipelineDefaults d = pipe.defaults();
                GenerationRequest ok = GenerationRequest.of("x", "", d.width(), d.height(), 2, 3.0, 0);
                assertEquals(List.of(), pipe.check(ok));
                GenerationRequest ddim = ok.withSampler("ddim", null);
                List<FieldError> errors = pipe.check(ddim);
                assertEquals(List.of("sampler"), errors.stream().map(FieldError::field).toList());
                assertEquals(errors, assertThrows(InvalidRequestException.class,
                        () -> pipe.generate(ddim, GenerationListener.NONE)).errors());
                int multiple = pipe.pixelsPerLatent()
                        * Fixtures.json(dir.resolve("model/transformer/config.json")).get("patch_size").asInt();
                int maxSide = multiple
                        * Fixtures.json(dir.resolve("model/transformer/config.json")).get("pos_embed_max_size").asInt();
                GenerationRequest sizes = GenerationRequest.of("x", "", multiple / 2,
                        maxSide + multiple, 2, 3.0, 0);
                assertEquals(List.of("width", "height"),
                        pipe.check(sizes).stream().map(FieldError::field).toList());
            }
        }));
    }

    private static double[] diff(float[] a, float[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }
}
