package dev.jdiffuse.server;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * FLUX.1 over real HTTP, with the published-layout fixtures ({@code layouts/flux_dev}, {@code layouts/flux_schnell})
 * served from a models folder: both are listed as the {@code flux} family with their own defaults (dev 28 steps at
 * guidance 3.5, schnell 4 steps unguided), a request renders the same image as the pipeline run in this process
 * (which {@code PublishedLayoutsParityTest} pins against diffusers), distinct guidance scales give distinct images
 * on dev, and what FLUX does not take (a negative prompt, a diffusion sampler, a side off the 16-pixel grid) is a 400
 * naming the field.
 */
class FluxServerTest {

    private static final String DEV = "layouts/flux_dev";
    private static final String SCHNELL = "layouts/flux_schnell";
    /** Same code on the same CPU, so only the PNG's rounding to 8 bits separates the two. */
    private static final double TOL = 0.5 / 255 + 1e-6;

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(DEV + "/model") || !Fixtures.present(SCHNELL + "/model")) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-flux-models");
        TestServer.linkFixture(models, "flux-dev", DEV + "/model");
        TestServer.linkFixture(models, "flux-schnell", SCHNELL + "/model");
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    @Test
    void listsBothAsFluxWithTheirOwnDefaultsAndSizeMultiple() throws Exception {
        Fixtures.require(DEV + "/model");
        JsonNode dev = model("flux-dev");
        JsonNode schnell = model("flux-schnell");
        assertEquals("flux", dev.get("family").asText(), dev.toString());
        assertEquals("flux", schnell.get("family").asText(), schnell.toString());
        // loading happens on first use; the listing's defaults come from the loaded family
        run("flux-dev", "warm", 3.5, 1, 2);
        run("flux-schnell", "warm", 0, 1, 2);
        dev = model("flux-dev");
        schnell = model("flux-schnell");
        assertEquals(28, dev.at("/defaults/steps").asInt(), dev.toString());
        assertEquals(3.5, dev.at("/defaults/guidance_scale").asDouble(), dev.toString());
        assertEquals(4, schnell.at("/defaults/steps").asInt(), schnell.toString());
        assertEquals(0.0, schnell.at("/defaults/guidance_scale").asDouble(), schnell.toString());
        assertEquals(16, dev.get("size_multiple").asInt(), "2x2 packing of 8-pixel latents: " + dev);
        assertEquals(8, dev.get("pixels_per_latent").asInt(), dev.toString());
    }

    @Test
    void rendersWhatThePipelineRendersAndEmbedsTheGuidance() throws Exception {
        Fixtures.require(DEV + "/model");
        JsonNode meta = Fixtures.meta(Fixtures.root().resolve(DEV));
        String prompt = meta.get("prompt").asText();
        long seed = meta.get("seed").asLong();
        BufferedImage served = png(run("flux-dev", prompt, 3.5, seed, 4));
        float[] local = renderHere(DEV, prompt, 3.5, seed, 4);
        assertTrue(ImageDiff.maxAbs(served, local) <= TOL, "served vs in-process: " + ImageDiff.maxAbs(served, local));
        BufferedImage otherGuidance = png(run("flux-dev", prompt, 1.0, seed, 4));
        assertTrue(ImageDiff.maxAbs(otherGuidance, served) > 10.0 / 255, "guidance 1.0 should change the image");

        JsonNode smeta = Fixtures.meta(Fixtures.root().resolve(SCHNELL));
        BufferedImage fast = png(run("flux-schnell", smeta.get("prompt").asText(), 0, smeta.get("seed").asLong(), 4));
        float[] fastLocal = renderHere(SCHNELL, smeta.get("prompt").asText(), 0, smeta.get("seed").asLong(), 4);
        assertTrue(ImageDiff.maxAbs(fast, fastLocal) <= TOL, "schnell served vs in-process: " + ImageDiff.maxAbs(fast, fastLocal));
    }

    @Test
    void refusesWhatFluxDoesNotTakeNamingTheField() throws Exception {
        Fixtures.require(DEV + "/model");
        expect400("{\"model\":\"flux-dev\",\"prompt\":\"a\",\"negative_prompt\":\"blurry\",\"width\":128,"
                + "\"height\":128}", "negative_prompt");
        expect400("{\"model\":\"flux-dev\",\"prompt\":\"a\",\"sampler\":\"ddim\",\"width\":128,\"height\":128}",
                "sampler");
        expect400("{\"model\":\"flux-dev\",\"prompt\":\"a\",\"width\":136,\"height\":128}", "width");
        expect400("{\"model\":\"flux-dev\",\"prompt\":\"(a:1.3)\",\"width\":128,\"height\":128}", "prompt");
    }

    /**
     * True CFG over HTTP: {@code true_cfg_scale} with a negative prompt renders what the pipeline renders in this
     * process, is recorded in the job's parameters and written Forge's way in the PNG's infotext; out of its range it
     * is a 400 naming it.
     */
    @Test
    void trueCfgScaleTakesTheNegativePrompt() throws Exception {
        Fixtures.require(DEV + "/model");
        String id = ts.submit("{\"model\":\"flux-dev\",\"prompt\":\"a red fox\",\"negative_prompt\":\"blurry\","
                + "\"true_cfg_scale\":3,\"width\":128,\"height\":128,\"steps\":2,\"guidance_scale\":3.5,"
                + "\"seed\":5}");
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        JsonNode params = done.get("parameters");
        assertEquals(3.0, params.path("true_cfg_scale").asDouble(), params.toString());
        assertEquals("blurry", params.path("negative_prompt").asText(), params.toString());
        byte[] bytes = ts.get("/v1/generations/" + id + "/images/0").raw().body();
        String infotext = dev.jdiffuse.server.images.PngText.read(bytes).get("parameters");
        assertTrue(infotext.contains("Negative prompt: blurry") && infotext.contains("CFG scale: 3, Distilled CFG "
                + "Scale: 3.5"), infotext);
        GenerationRequest r = GenerationRequest.of("a red fox", "blurry", 128, 128, 2, 3.5, 5).withTrueCfgScale(3);
        float[] local;
        try (DiffusionPipeline p = Pipelines.open(Fixtures.root().resolve(DEV).resolve("model"), LoadOptions.cpu());
                NDManager job = NDManager.newBaseManager(Device.cpu())) {
            local = p.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
        BufferedImage served = png(bytes);
        assertTrue(ImageDiff.maxAbs(served, local) <= TOL, "served vs in-process: " + ImageDiff.maxAbs(served, local));
        expect400("{\"model\":\"flux-dev\",\"prompt\":\"a\",\"true_cfg_scale\":0.5,\"width\":128,"
                + "\"height\":128}", "true_cfg_scale");
    }

    private static void expect400(String body, String field) throws Exception {
        TestServer.Reply r = ts.post("/v1/generations", body);
        assertEquals(400, r.status(), () -> body + ": " + new String(r.raw().body()));
        assertEquals(field, r.errorField(), body);
        assertFalse(r.json().path("error").path("message").asText().isBlank());
    }

    private static JsonNode model(String name) throws Exception {
        for (JsonNode m : ts.get("/v1/models").json().get("models")) {
            if (m.get("name").asText().equals(name)) {
                return m;
            }
        }
        throw new AssertionError("model " + name + " not listed");
    }

    private static byte[] run(String model, String prompt, double guidance, long seed, int steps) throws Exception {
        String id = ts.submit("{\"model\":\"" + model + "\",\"prompt\":" + TestServer.JSON.writeValueAsString(prompt)
                + ",\"width\":128,\"height\":128,\"steps\":" + steps + ",\"guidance_scale\":" + guidance
                + ",\"seed\":" + seed + "}");
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ts.get("/v1/generations/" + id + "/images/0").raw().body();
    }

    /** The same request through the pipeline in this process: [0, 1] NCHW. */
    private static float[] renderHere(String fixture, String prompt, double guidance, long seed, int steps) {
        try (DiffusionPipeline p = Pipelines.open(Fixtures.root().resolve(fixture).resolve("model"),
                LoadOptions.cpu()); NDManager job = NDManager.newBaseManager(Device.cpu())) {
            GenerationRequest r = GenerationRequest.of(prompt, "", 128, 128, steps, guidance, seed);
            return p.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }

    private static BufferedImage png(byte[] bytes) throws Exception {
        BufferedImage img = ImageIO.read(new ByteArrayInputStream(bytes));
        assertEquals(128, img.getWidth());
        assertEquals(128, img.getHeight());
        return img;
    }
}
