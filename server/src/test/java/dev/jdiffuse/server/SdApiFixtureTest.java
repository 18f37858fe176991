package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The A1111 routes against real fixture models ({@code layouts/sd15}, {@code layouts/flux_dev}) loaded by the
 * production loader: every image equals, pixel for pixel, the native API's image for the same model, seed (A1111's
 * {@code seed + i} for image i), sampler, steps and guidance; likewise the hires fix, img2img and inpainting from
 * base64 (A1111's paste-back keeps the init image away from the mask), and FLUX's {@code distilled_cfg_scale} (the
 * native guidance scale; {@code cfg_scale} ignored).
 */
class SdApiFixtureTest {

    private static final String SD15 = "layouts/sd15/model";
    private static final String FLUX = "layouts/flux_dev/model";
    private static final String INPAINT = "inpaint/sd15_4ch";

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(SD15)) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-sdapi-models");
        TestServer.linkFixture(models, "tiny-sd15", SD15);
        if (Fixtures.present(FLUX)) {
            TestServer.linkFixture(models, "flux-dev", FLUX);
        }
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    private static TestServer.Reply sdapi(String route, String body) throws Exception {
        return ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/sdapi/v1/" + route))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    }

    private static JsonNode ok(TestServer.Reply r) throws Exception {
        assertEquals(200, r.status(), () -> new String(r.raw().body()));
        return TestServer.JSON.readTree(r.json().get("info").asText());
    }

    private static BufferedImage image(TestServer.Reply r, int i) throws Exception {
        return ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(r.json().get("images").get(i)
                .asText())));
    }

    /** The native API's image 0 for {@code body}. */
    private static BufferedImage nativeImage(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ImageIO.read(new ByteArrayInputStream(ts.get("/v1/generations/" + id + "/images/0").raw().body()));
    }

    private static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    private static void assertSamePixels(BufferedImage expected, BufferedImage got, String what) {
        assertEquals(expected.getWidth(), got.getWidth(), what);
        assertEquals(expected.getHeight(), got.getHeight(), what);
        assertArrayEquals(pixels(expected), pixels(got), what);
    }

    private static String base64(BufferedImage img) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return Base64.getEncoder().encodeToString(out.toByteArray());
    }

    private static String upload(BufferedImage image) throws Exception {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(image, "png", png);
        TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads"))
                .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(png.toByteArray())));
        assertEquals(201, up.status(), new String(up.raw().body()));
        return up.json().get("id").asText();
    }

    @Test
    void txt2imgBatchEqualsTheNativeImagesOfEachSeed() throws Exception {
        Fixtures.require(SD15);
        TestServer.Reply r = sdapi("txt2img", """
                {"prompt":"a lighthouse","negative_prompt":"blurry","seed":21,"steps":4,"width":64,"height":64,
                 "cfg_scale":7.5,"sampler_name":"Euler a","batch_size":2,
                 "override_settings":{"sd_model_checkpoint":"tiny-sd15"}}""");
        JsonNode info = ok(r);
        assertEquals(21, info.at("/all_seeds/0").asLong());
        assertEquals(22, info.at("/all_seeds/1").asLong());
        assertEquals("Euler a", info.get("sampler_name").asText());
        assertEquals("tiny-sd15", info.get("sd_model_name").asText());
        assertEquals(10, info.get("sd_model_hash").asText().length());
        for (int i = 0; i < 2; i++) {
            BufferedImage expected = nativeImage("""
                    {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":%d,"steps":4,
                     "width":64,"height":64,"guidance_scale":7.5,"sampler":"euler_ancestral"}""".formatted(21 + i));
            assertSamePixels(expected, image(r, i), "image " + i);
        }
        assertFalse(pixelsEqual(image(r, 0), image(r, 1)), "the two seeds give two images");
        JsonNode models = ts.get("/sdapi/v1/sd-models").json();
        boolean listed = false;
        for (JsonNode m : models) {
            if (m.get("model_name").asText().equals("tiny-sd15")) {
                listed = true;
                assertEquals("tiny-sd15 [" + info.get("sd_model_hash").asText() + "]", m.get("title").asText());
            }
        }
        assertTrue(listed, models.toString());
    }

    /**
     * A1111's DPM2 runs on the levels of one step more without the next-to-last one (its entry's
     * {@code discard_next_to_last_sigma}): the native image with {@code discard_penultimate_sigma}, not the whole
     * schedule's; Euler runs the whole schedule unless {@code override_settings.always_discard_next_to_last_sigma}
     * asks for the drop.
     */
    @Test
    void dpm2RunsOnTheDroppedLevelsAndEulerDoesNot() throws Exception {
        Fixtures.require(SD15);
        String a1111 = """
                {"prompt":"a lighthouse","seed":21,"steps":4,"width":64,"height":64,"cfg_scale":7.5,
                 "sampler_name":"%s","scheduler":"Karras","override_settings":{"sd_model_checkpoint":"tiny-sd15"%s}}""";
        String body = """
                {"model":"tiny-sd15","prompt":"a lighthouse","seed":21,"steps":4,"width":64,"height":64,
                 "guidance_scale":7.5,"sampler":"%s","schedule":"karras"%s}""";
        String drop = ",\"discard_penultimate_sigma\":true";
        TestServer.Reply dpm2 = sdapi("txt2img", a1111.formatted("DPM2", ""));
        ok(dpm2);
        assertSamePixels(nativeImage(body.formatted("dpm_2", drop)), image(dpm2, 0), "DPM2");
        assertFalse(pixelsEqual(nativeImage(body.formatted("dpm_2", "")), image(dpm2, 0)),
                "the whole schedule gives another image");
        TestServer.Reply euler = sdapi("txt2img", a1111.formatted("Euler", ""));
        ok(euler);
        assertSamePixels(nativeImage(body.formatted("euler", "")), image(euler, 0), "Euler");
        TestServer.Reply forced = sdapi("txt2img", a1111.formatted("Euler",
                ",\"always_discard_next_to_last_sigma\":true"));
        JsonNode info = ok(forced);
        assertSamePixels(nativeImage(body.formatted("euler", drop)), image(forced, 0), "Euler, always discard");
        assertFalse(pixelsEqual(image(euler, 0), image(forced, 0)), "the setting changes Euler's image");
        assertTrue(info.at("/infotexts/0").asText().contains("Discard penultimate sigma: True"), info.toString());
    }

    private static boolean pixelsEqual(BufferedImage a, BufferedImage b) {
        return java.util.Arrays.equals(pixels(a), pixels(b));
    }

    @Test
    void hiresFixEqualsTheNativeHiresFix() throws Exception {
        Fixtures.require(SD15);
        TestServer.Reply r = sdapi("txt2img", """
                {"prompt":"a lighthouse","seed":8,"steps":3,"width":64,"height":64,"sampler_name":"Euler",
                 "enable_hr":true,"hr_scale":2,"hr_second_pass_steps":2,"denoising_strength":0.5,
                 "hr_upscaler":"Latent","override_settings":{"sd_model_checkpoint":"tiny-sd15"}}""");
        JsonNode info = ok(r);
        BufferedImage got = image(r, 0);
        assertEquals(128, got.getWidth());
        BufferedImage expected = nativeImage("""
                {"model":"tiny-sd15","prompt":"a lighthouse","seed":8,"steps":3,"width":64,"height":64,
                 "guidance_scale":7,"sampler":"euler","hires":{"scale":2,"steps":2,"strength":0.5}}""");
        assertSamePixels(expected, got, "hires");
        String text = info.at("/infotexts/0").asText();
        assertTrue(text.contains("Hires upscale: 2") && text.contains("Denoising strength: 0.5"), text);
        // hr_resize_x alone: the height follows the aspect ratio
        TestServer.Reply sized = sdapi("txt2img", """
                {"prompt":"x","seed":1,"steps":2,"width":64,"height":128,"enable_hr":true,"hr_resize_x":96,
                 "hr_second_pass_steps":1,"override_settings":{"sd_model_checkpoint":"tiny-sd15"}}""");
        ok(sized);
        assertEquals(96, image(sized, 0).getWidth());
        assertEquals(192, image(sized, 0).getHeight());
    }

    @Test
    void img2imgAndInpaintingFromBase64EqualTheNativeApi() throws Exception {
        Fixtures.require(SD15);
        Fixtures.require(INPAINT);
        BufferedImage init = ImageIO.read(Fixtures.root().resolve(INPAINT + "/init.png").toFile());
        BufferedImage mask = ImageIO.read(Fixtures.root().resolve(INPAINT + "/mask.png").toFile());
        // plain img2img, the init image with a data: prefix
        TestServer.Reply r = sdapi("img2img", """
                {"prompt":"ramen","seed":5,"steps":4,"width":64,"height":64,"sampler_name":"Euler",
                 "denoising_strength":0.6,"init_images":["data:image/png;base64,%s"],
                 "override_settings":{"sd_model_checkpoint":"tiny-sd15"}}""".formatted(base64(init)));
        ok(r);
        assertTrue(r.json().at("/parameters/init_images").isNull(), "init images are not echoed by default");
        String initId = upload(init);
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"ramen","seed":5,"steps":4,"width":64,"height":64,"guidance_scale":7,
                 "sampler":"euler","init_image":"%s","strength":0.6}""".formatted(initId)), image(r, 0), "img2img");
        // inpainting, A1111's defaults for the mask (blur 4, only masked) and its paste-back
        TestServer.Reply in = sdapi("img2img", """
                {"prompt":"ramen","seed":5,"steps":4,"width":64,"height":64,"sampler_name":"Euler",
                 "denoising_strength":0.75,"init_images":["%s"],"mask":"%s","inpaint_full_res_padding":8,
                 "override_settings":{"sd_model_checkpoint":"tiny-sd15"}}""".formatted(base64(init), base64(mask)));
        JsonNode info = ok(in);
        BufferedImage got = image(in, 0);
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"ramen","seed":5,"steps":4,"width":64,"height":64,"guidance_scale":7,
                 "sampler":"euler","init_image":"%s","mask":"%s","strength":0.75,"mask_blur":4,
                 "inpaint_full_res":true,"inpaint_full_res_padding":8,"paste_back":true}""".formatted(initId,
                upload(mask))), got, "inpainting");
        assertEquals(128, got.getWidth(), "pasted back into the init image");
        // rows 0..15 lie 16 pixels above the mask, beyond the blur: the init image's pixels
        assertArrayEquals(init.getRGB(0, 0, 128, 16, null, 0, 128), got.getRGB(0, 0, 128, 16, null, 0, 128));
        assertTrue(info.at("/infotexts/0").asText().contains("Mask blur: 4"), info.toString());
        // inverted, the masked region is kept instead: the two results differ
        TestServer.Reply inverted = sdapi("img2img", """
                {"prompt":"ramen","seed":5,"steps":4,"width":64,"height":64,"denoising_strength":0.75,
                 "init_images":["%s"],"mask":"%s","inpainting_mask_invert":1,
                 "override_settings":{"sd_model_checkpoint":"tiny-sd15"}}""".formatted(base64(init), base64(mask)));
        ok(inverted);
        assertFalse(pixelsEqual(got, image(inverted, 0)));
    }

    /**
     * FLUX as Forge reads it: {@code distilled_cfg_scale} is the embedded guidance; with it, {@code cfg_scale} above 1
     * is real CFG against the negative prompt (native {@code true_cfg_scale}), 1 is none; without it (a client that
     * does not know FLUX, sending A1111's default 7), {@code cfg_scale} is ignored and the negative prompt dropped.
     */
    /** A1111's "Heun" on FLUX is Heun on the flow ODE, the native {@code flow_heun}: the same image. */
    @Test
    void heunOnFluxIsFlowHeun() throws Exception {
        Fixtures.require(FLUX);
        JsonNode info = ok(sdapi("txt2img", """
                {"prompt":"a red fox","seed":3,"steps":3,"width":128,"height":128,"sampler_name":"Heun",
                 "distilled_cfg_scale":2.0,"override_settings":{"sd_model_checkpoint":"flux-dev"}}"""));
        JsonNode rec = ts.get("/v1/generations/" + info.at("/job_ids/0").asText()).json();
        assertEquals("flow_heun", rec.at("/parameters/sampler").asText());
        TestServer.Reply r = sdapi("txt2img", """
                {"prompt":"a red fox","seed":3,"steps":3,"width":128,"height":128,"sampler_name":"Heun",
                 "distilled_cfg_scale":2.0,"override_settings":{"sd_model_checkpoint":"flux-dev"}}""");
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":3,"width":128,"height":128,
                 "guidance_scale":2.0,"sampler":"flow_heun"}"""), image(r, 0), "A1111 Heun = native flow_heun");
    }

    /**
     * A1111's "DPM++ 2M SDE" on FLUX is the flow entry of the method, with its own (Automatic) schedule, exponential, as
     * Forge runs it there; the same image as the native job.
     */
    @Test
    void dpmpp2mSdeOnFluxIsTheFlowEntryWithItsOwnSchedule() throws Exception {
        Fixtures.require(FLUX);
        String body = """
                {"prompt":"a red fox","seed":3,"steps":3,"width":128,"height":128,"sampler_name":"DPM++ 2M SDE",
                 "distilled_cfg_scale":2.0,"override_settings":{"sd_model_checkpoint":"flux-dev"}}""";
        JsonNode rec = ts.get("/v1/generations/" + ok(sdapi("txt2img", body)).at("/job_ids/0").asText()).json();
        assertEquals("flow_dpmpp_2m_sde", rec.at("/parameters/sampler").asText());
        assertEquals("exponential", rec.at("/parameters/schedule").asText());
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":3,"width":128,"height":128,
                 "guidance_scale":2.0,"sampler":"flow_dpmpp_2m_sde","schedule":"exponential"}"""),
                image(sdapi("txt2img", body), 0), "A1111 DPM++ 2M SDE = native flow_dpmpp_2m_sde");
    }

    @Test
    void fluxTakesDistilledCfgScaleAsItsGuidanceAndCfgScaleAsForgeDoes() throws Exception {
        Fixtures.require(FLUX);
        String body = """
                {"prompt":"a red fox","negative_prompt":"blurry","seed":3,"steps":2,"width":128,"height":128,
                 "sampler_name":"Euler","distilled_cfg_scale":2.0,"cfg_scale":%s,
                 "override_settings":{"sd_model_checkpoint":"flux-dev"}}""";
        // a key's CLIP skip preference (for its SD models) is not applied to FLUX, which refuses one
        assertEquals(200, ts.post("/sdapi/v1/options", "{\"CLIP_stop_at_last_layers\":2}").status());
        TestServer.Reply r;
        try {
            r = sdapi("txt2img", body.formatted("1"));
        } finally {
            ts.post("/sdapi/v1/options", "{\"CLIP_stop_at_last_layers\":1}");
        }
        JsonNode info = ok(r);
        assertEquals(2.0, info.get("distilled_cfg_scale").asDouble());
        assertEquals(1.0, info.get("cfg_scale").asDouble(), "no real CFG ran");
        JsonNode rec = ts.get("/v1/generations/" + info.at("/job_ids/0").asText()).json();
        assertEquals("flow_euler", rec.at("/parameters/sampler").asText(), "A1111's Euler on a flow model");
        BufferedImage expected = nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":2,"width":128,"height":128,
                 "guidance_scale":2.0}""");
        assertSamePixels(expected, image(r, 0), "distilled_cfg_scale = native guidance_scale, cfg_scale 1 = none");
        TestServer.Reply real = sdapi("txt2img", body.formatted("4"));
        JsonNode realInfo = ok(real);
        assertEquals(4.0, realInfo.get("cfg_scale").asDouble(), "the real CFG that ran");
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","negative_prompt":"blurry","seed":3,"steps":2,"width":128,
                 "height":128,"guidance_scale":2.0,"true_cfg_scale":4}"""), image(real, 0),
                "cfg_scale 4 with distilled_cfg_scale = native true_cfg_scale 4 against the negative prompt");
        TestServer.Reply unaware = sdapi("txt2img", body.replace("\"distilled_cfg_scale\":2.0,", "").formatted("7"));
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":2,"width":128,"height":128}"""),
                image(unaware, 0), "without distilled_cfg_scale, A1111's cfg_scale is ignored (model default guidance)");
        TestServer.Reply other = sdapi("txt2img", body.replace("2.0", "5.0").formatted("1"));
        ok(other);
        assertFalse(pixelsEqual(expected, image(other, 0)), "another distilled guidance, another image");
    }
}
