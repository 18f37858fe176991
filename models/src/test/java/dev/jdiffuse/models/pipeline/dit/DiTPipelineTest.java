package dev.jdiffuse.models.pipeline.dit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.FieldError;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.InvalidRequestException;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.testkit.DiTPipelineFolder;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The DiT pipeline on the {@code dit} fixture transformer and the {@code vae_kl} fixture VAE, assembled into a
 * diffusers folder with a DDIM scheduler config (DiT's linear betas) and an {@code id2label}. There is no diffusers
 * DiT pipeline fixture: this checks wiring and behaviour (sizes, range, determinism, guidance, labels), while the
 * transformer and VAE have their own parity tests.
 */
@DisplayName("dit + vae_kl: DiffusionPipeline with DiTFamily")
class DiTPipelineTest {

    @TempDir
    static Path folder;
    private static DiffusionPipeline pipe;
    private static DiTFamily family;
    private static int sampleSize;

    @BeforeAll
    static void assemble() throws IOException {
        Path dit = Fixtures.require("dit");
        Fixtures.require("vae_kl");
        JsonNode config = Fixtures.json(dit.resolve("config.json"));
        sampleSize = config.get("sample_size").asInt();
        DiTPipelineFolder.assemble(folder, DiTPipelineFolder.Placement.COPY);
        pipe = Pipelines.open(folder, LoadOptions.cpu());
        family = assertInstanceOf(DiTFamily.class, pipe.architecture());
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    private static GenerationRequest request(String prompt, Integer label, double guidance, long seed, int batch,
            String sampler) {
        PipelineDefaults d = pipe.defaults();
        return new GenerationRequest(prompt, "", d.width(), d.height(), 3, sampler, null, guidance, 0, seed, batch,
                label, List.of(), null, null, null, List.of(), null, null);
    }

    private static float[] pixels(GenerationRequest r) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            TorchCpuNoise noise = new TorchCpuNoise(r.seed());
            NDArray image = pipe.run(r, job, noise.normal(job, pipe.latentShape(r)), noise, GenerationListener.NONE)
                    .image();
            assertEquals(r.batchSize(), image.getShape().get(0));
            assertEquals(3, image.getShape().get(1));
            assertEquals(r.height(), image.getShape().get(2));
            assertEquals(r.width(), image.getShape().get(3));
            return image.toFloatArray();
        }
    }

    @Test
    void familyAndDefaults() {
        assertEquals("dit", pipe.family());
        PipelineDefaults d = pipe.defaults();
        assertEquals(sampleSize * pipe.pixelsPerLatent(), d.width());
        assertEquals(d.width(), d.height());
        assertEquals("ddim", d.sampler());
        assertEquals(50, d.steps());
        assertEquals(4.0, d.guidanceScale());
        assertEquals(List.of("Carassius auratus", "Tinca tinca", "goldfish", "tench"), family.classNames());
    }

    @Test
    void finiteImagesInUnitRangeOfTheRequestedSizeForSeveralSamplers() {
        for (String sampler : new String[] {null, "dpmpp_2m", "euler_ancestral"}) {
            float[] image = pixels(request("", 1, 4.0, 3, 2, sampler));
            for (float v : image) {
                assertTrue(Float.isFinite(v) && v >= 0f && v <= 1f, sampler + ": pixel " + v);
            }
        }
        GenerationResult result = pipe.generate(request("goldfish", null, 4.0, 3, 1, null), GenerationListener.NONE);
        BufferedImage img = result.images().get(0);
        assertEquals(pipe.defaults().width(), img.getWidth());
        assertEquals(pipe.defaults().height(), img.getHeight());
        assertEquals("ddim", result.sampler());
    }

    @Test
    void deterministicPerSeed() {
        float[] a = pixels(request("", 1, 4.0, 11, 1, "euler_ancestral"));
        float[] b = pixels(request("", 1, 4.0, 11, 1, "euler_ancestral"));
        float[] c = pixels(request("", 1, 4.0, 12, 1, "euler_ancestral"));
        assertArrayEquals(a, b);
        assertFalse(java.util.Arrays.equals(a, c), "another seed gave the same image");
    }

    @Test
    void guidanceAndClassChangeTheImage() {
        float[] plain = pixels(request("", 1, 1.0, 5, 1, null));
        float[] guided = pixels(request("", 1, 4.0, 5, 1, null));
        float[] otherClass = pixels(request("", 0, 4.0, 5, 1, null));
        assertFalse(java.util.Arrays.equals(plain, guided), "guidance 1 and 4 gave the same image");
        assertFalse(java.util.Arrays.equals(guided, otherClass), "classes 0 and 1 gave the same image");
    }

    @Test
    void classByNameIsClassByIndex() {
        assertEquals(1, family.classOf(request("goldfish", null, 4.0, 5, 1, null)));
        assertArrayEquals(pixels(request("", 1, 4.0, 5, 1, null)), pixels(request("Carassius auratus", null, 4.0, 5,
                1, null)));
        assertEquals("prompt", assertThrows(InvalidRequestException.class,
                () -> pixels(request("unicorn", null, 4.0, 5, 1, null))).first().field());
        assertEquals("sampler", assertThrows(InvalidRequestException.class,
                () -> pixels(request("", 1, 4.0, 5, 1, "flow_euler"))).first().field());
    }

    /**
     * The request check is the model's only validation: a flow sampler, a size off the patch grid, a class outside the
     * model's, guidance rescale and a schedule the sampler cannot space are each named by their field, and the same
     * request is refused by generate and schedule before anything runs.
     */
    @Test
    void checkNamesEveryRefusedField() {
        PipelineDefaults d = pipe.defaults();
        assertEquals(List.of(), pipe.check(request("", 1, 4.0, 0, 1, null)));
        assertEquals(List.of("sampler"), fields(pipe.check(request("", 1, 4.0, 0, 1, "flow_euler"))));
        assertEquals(List.of("sampler"), fields(pipe.check(request("", 1, 4.0, 0, 1, "no_such_sampler"))));
        GenerationRequest bad = new GenerationRequest("", "", d.width() + 4, d.height(), 3, "edm_euler", null, 4.0,
                0.5, 0, 1, 99, List.of(), null, null, null, List.of(), null, null);
        List<FieldError> errors = pipe.check(bad);
        assertEquals(List.of("sampler", "width", "class_label", "guidance_rescale"), fields(errors));
        assertEquals(errors, assertThrows(InvalidRequestException.class,
                () -> pipe.generate(bad, GenerationListener.NONE)).errors());
        assertEquals(errors, assertThrows(InvalidRequestException.class, () -> pipe.schedule(bad)).errors());
        GenerationRequest karrasDdim = request("", 1, 4.0, 0, 1, "ddim").withSampler("ddim", "karras");
        assertEquals(List.of("schedule"), fields(pipe.check(karrasDdim)));
    }

    private static List<String> fields(List<FieldError> errors) {
        return errors.stream().map(FieldError::field).toList();
    }
}
