package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static dev.jdiffuse.server.ComfyWorkflows.defaultGraph;
import static dev.jdiffuse.server.ComfyWorkflows.inputs;
import static dev.jdiffuse.server.ComfyWorkflows.link;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ComfyUI workflows against the real SD 1.5 fixture ({@code layouts/sd15}) and FLUX dev fixture loaded by the
 * production loader: the default text-to-image workflow's PNG from {@code /history} and {@code /view} equals, pixel
 * for pixel, the native API's image for the same model, seed, steps, cfg, sampler, schedule, size and prompts; image
 * to image through {@code /upload/image}, LoadImage and VAEEncode equals the native image-to-image job that runs the
 * same steps ({@code steps / denoise} of them at strength {@code denoise}); FLUX's FluxGuidance is the native guidance.
 */
class ComfyFixtureTest {

    private static final String SD15 = "layouts/sd15/model";
    private static final String FLUX = "layouts/flux_dev/model";
    private static final String INIT = "inpaint/sd15_4ch/init.png";
    private static final String LORA = "lora/sd15_kohya";

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(SD15)) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-comfy-models");
        TestServer.linkFixture(models, "tiny-sd15", SD15);
        if (Fixtures.present(FLUX)) {
            TestServer.linkFixture(models, "flux-dev", FLUX);
        }
        ServerOptions options = ServerOptions.defaults();
        if (Fixtures.present(LORA)) {
            Path loras = Files.createTempDirectory("jdiffuse-comfy-loras");
            Files.createSymbolicLink(loras.resolve("detail_tweaker.safetensors"),
                    Fixtures.root().resolve(LORA).resolve("detail_tweaker.safetensors"));
            options = options.withLoras(loras);
        }
        ts = TestServer.overModels(models, options);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    /** Runs {@code graph} and returns the image of output node 9 from /history and /view. */
    private static BufferedImage run(ObjectNode graph) throws Exception {
        TestServer.Reply r = ts.post("/prompt", ComfyWorkflows.body(graph, null));
        assertEquals(200, r.status(), () -> new String(r.raw().body()));
        String id = r.json().get("prompt_id").asText();
        long end = System.nanoTime() + Duration.ofSeconds(180).toNanos();
        JsonNode entry = null;
        while (System.nanoTime() < end) {
            entry = ts.get("/history/" + id).json().get(id);
            if (entry != null) {
                break;
            }
            Thread.sleep(50);
        }
        assertTrue(entry != null, "the prompt ended");
        assertEquals("success", entry.at("/status/status_str").asText(), entry.toString());
        JsonNode image = entry.at("/outputs/9/images/0");
        TestServer.Reply view = ts.get("/view?filename=" + image.get("filename").asText() + "&subfolder="
                + "&type=" + image.get("type").asText());
        assertEquals(200, view.status());
        return ImageIO.read(new ByteArrayInputStream(view.raw().body()));
    }

    private static BufferedImage nativeImage(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(180));
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

    @Test
    void defaultWorkflowEqualsTheNativeImage() throws Exception {
        Fixtures.require(SD15);
        BufferedImage got = run(defaultGraph("tiny-sd15.safetensors", 21, 4, 7.5, "euler", "normal", 64, 64, 1,
                "a lighthouse", "blurry"));
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":21,"steps":4,
                 "width":64,"height":64,"guidance_scale":7.5,"sampler":"euler","schedule":"linspace"}"""), got,
                "euler / normal");
        BufferedImage karras = run(defaultGraph("tiny-sd15", 21, 4, 7.5, "dpmpp_2m", "karras", 64, 64, 1,
                "a lighthouse", "blurry"));
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":21,"steps":4,
                 "width":64,"height":64,"guidance_scale":7.5,"sampler":"dpmpp_2m","schedule":"karras"}"""), karras,
                "dpmpp_2m / karras, the checkpoint named without its extension");
        assertFalse(java.util.Arrays.equals(pixels(got), pixels(karras)), "another sampler, another image");
        ObjectNode skip = defaultGraph("tiny-sd15", 21, 4, 7.5, "euler", "normal", 64, 64, 1, "a lighthouse",
                "blurry");
        ObjectNode layer = ComfyWorkflows.node(skip, "14", "CLIPSetLastLayer");
        layer.set("clip", link("4", 1));
        layer.put("stop_at_clip_layer", -2);
        inputs(skip, "6").set("clip", link("14", 0));
        inputs(skip, "7").set("clip", link("14", 0));
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":21,"steps":4,
                 "width":64,"height":64,"guidance_scale":7.5,"sampler":"euler","schedule":"linspace",
                 "clip_skip":2}"""), run(skip), "CLIPSetLastLayer -2 = clip skip 2");
    }

    @Test
    void imageToImageEqualsTheNativeJobRunningTheSameSteps() throws Exception {
        Fixtures.require(SD15);
        Fixtures.require(INIT.substring(0, INIT.lastIndexOf('/')));
        byte[] png = Files.readAllBytes(Fixtures.root().resolve(INIT));
        String boundary = "b0undary";
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"init.png\""
                + "\r\nContent-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(png);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/upload/image"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
        assertEquals(200, up.status(), new String(up.raw().body()));
        ObjectNode g = ComfyWorkflows.img2img(defaultGraph("tiny-sd15", 5, 4, 7, "euler", "normal", 64, 64, 1,
                "ramen", ""), up.json().get("name").asText(), 0.5);
        BufferedImage got = run(g);
        TestServer.Reply nativeUpload = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads"))
                .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(png)));
        String initId = nativeUpload.json().get("id").asText();
        // ComfyUI: 4 steps at denoise 0.5 are the last 4 of an 8-step schedule; natively steps 8 at strength 0.5
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"ramen","negative_prompt":"","seed":5,"steps":8,"guidance_scale":7,
                 "sampler":"euler","schedule":"linspace","init_image":"%s","strength":0.5}""".formatted(initId)), got,
                "img2img");
    }

    /**
     * ComfyUI's KSampler runs {@code dpm_2} (and {@code uni_pc}) on the levels of one step more without the
     * next-to-last one: the native image with {@code discard_penultimate_sigma}, not the one on the whole schedule;
     * {@code euler} runs the whole schedule. With {@code denoise} below 1 the drop comes first, on the levels of
     * {@code int(steps / denoise)} steps, and the run takes their tail ({@code KSampler.set_steps}).
     */
    @Test
    void dpm2RunsOnTheDroppedLevelsAndEulerDoesNot() throws Exception {
        Fixtures.require(SD15);
        String body = """
                {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":21,"steps":4,
                 "width":64,"height":64,"guidance_scale":7.5,"sampler":"%s","schedule":"karras"%s}""";
        BufferedImage dpm2 = run(defaultGraph("tiny-sd15", 21, 4, 7.5, "dpm_2", "karras", 64, 64, 1, "a lighthouse",
                "blurry"));
        BufferedImage dropped = nativeImage(body.formatted("dpm_2", ",\"discard_penultimate_sigma\":true"));
        assertSamePixels(dropped, dpm2, "dpm_2 / karras");
        assertFalse(java.util.Arrays.equals(pixels(nativeImage(body.formatted("dpm_2", ""))), pixels(dpm2)),
                "the whole schedule gives another image");
        assertSamePixels(nativeImage(body.formatted("unipc_bh1", ",\"discard_penultimate_sigma\":true")),
                run(defaultGraph("tiny-sd15", 21, 4, 7.5, "uni_pc", "karras", 64, 64, 1, "a lighthouse", "blurry")),
                "uni_pc / karras");
        assertSamePixels(nativeImage(body.formatted("euler", "")), run(defaultGraph("tiny-sd15", 21, 4, 7.5, "euler",
                "karras", 64, 64, 1, "a lighthouse", "blurry")), "euler / karras");
        // image to image: 4 steps at denoise 0.5 are the last 4 of the dropped 8-step levels (9 computed)
        Fixtures.require(INIT.substring(0, INIT.lastIndexOf('/')));
        byte[] png = Files.readAllBytes(Fixtures.root().resolve(INIT));
        ObjectNode g = ComfyWorkflows.img2img(defaultGraph("tiny-sd15", 5, 4, 7, "dpm_2", "karras", 64, 64, 1,
                "ramen", ""), comfyUpload(png, "drop.png"), 0.5);
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"ramen","negative_prompt":"","seed":5,"steps":8,"guidance_scale":7,
                 "sampler":"dpm_2","schedule":"karras","init_image":"%s","strength":0.5,
                 "discard_penultimate_sigma":true}""".formatted(nativeUpload(png))), run(g), "img2img dpm_2");
    }

    private static String comfyUpload(byte[] png, String name) throws Exception {
        String boundary = "b0undary";
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"" + name
                + "\"\r\nContent-Type: image/png\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(png);
        body.writeBytes(("\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"overwrite\"\r\n\r\n"
                + "true\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/upload/image"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
        assertEquals(200, up.status(), new String(up.raw().body()));
        return up.json().get("name").asText();
    }

    private static String nativeUpload(byte[] png) throws Exception {
        return ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads")).header("Content-Type", "image/png")
                .POST(HttpRequest.BodyPublishers.ofByteArray(png))).json().get("id").asText();
    }

    @Test
    void setLatentNoiseMaskIsTheNativeInpainting() throws Exception {
        Fixtures.require(SD15);
        Fixtures.require(INIT.substring(0, INIT.lastIndexOf('/')));
        byte[] init = Files.readAllBytes(Fixtures.root().resolve(INIT));
        byte[] maskPng = Files.readAllBytes(Fixtures.root().resolve("inpaint/sd15_4ch/mask.png"));
        String initName = comfyUpload(init, "room.png");
        String maskName = comfyUpload(maskPng, "room-mask.png");
        ObjectNode g = ComfyWorkflows.img2img(defaultGraph("tiny-sd15", 5, 4, 7, "euler", "normal", 64, 64, 1,
                "ramen", ""), initName, 1.0);
        ObjectNode m = ComfyWorkflows.node(g, "15", "LoadImageMask");
        m.put("image", maskName);
        m.put("channel", "red");
        ObjectNode set = ComfyWorkflows.node(g, "16", "SetLatentNoiseMask");
        set.set("samples", link("11", 0));
        set.set("mask", link("15", 0));
        inputs(g, "3").set("latent_image", link("16", 0));
        BufferedImage got = run(g);
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"ramen","negative_prompt":"","seed":5,"steps":4,"guidance_scale":7,
                 "sampler":"euler","schedule":"linspace","init_image":"%s","mask":"%s","strength":1.0}"""
                .formatted(nativeUpload(init), nativeUpload(maskPng))), got, "inpainting");
        m.put("channel", "alpha");
        TestServer.Reply r = ts.post("/prompt", ComfyWorkflows.body(g, null));
        assertEquals(400, r.status(), "an opaque image's alpha masks nothing");
        assertEquals("channel", r.json().at("/node_errors/15/errors/0/extra_info/input_name").asText(),
                r.json().toString());
    }

    /**
     * ComfyUI's k-diffusion names on a flow model run their flow entries ({@code dpmpp_2m} on FLUX is the native
     * {@code flow_dpmpp_2m}, {@code euler_ancestral} {@code flow_euler_ancestral}); the same image as the native job.
     */
    @Test
    void kdiffusionSamplersOnFluxAreTheFlowEntries() throws Exception {
        Fixtures.require(FLUX);
        for (String[] c : new String[][] {{"dpmpp_2m", "beta", "flow_dpmpp_2m", "beta"},
            {"euler_ancestral", "simple", "flow_euler_ancestral", "default"}}) {
            ObjectNode g = defaultGraph("flux-dev", 3, 3, 1, c[0], c[1], 128, 128, 1, "a red fox", "");
            ((ObjectNode) g.get("5")).put("class_type", "EmptySD3LatentImage");
            assertSamePixels(nativeImage("""
                    {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":3,"width":128,"height":128,
                     "guidance_scale":3.5,"sampler":"%s","schedule":"%s"}""".formatted(c[2], c[3])), run(g),
                    c[0] + " / " + c[1] + " on FLUX");
        }
    }

    /** A CFG++ sampler at cfg 1 (as ComfyUI runs them) guides against the negative prompt: the native job's image. */
    @Test
    void cfgPpAtScaleOneIsTheNativeJob() throws Exception {
        Fixtures.require(SD15);
        BufferedImage got = run(defaultGraph("tiny-sd15", 21, 4, 1.0, "euler_ancestral_cfg_pp", "karras", 64, 64, 1,
                "a lighthouse", "blurry"));
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"a lighthouse","negative_prompt":"blurry","seed":21,"steps":4,
                 "width":64,"height":64,"guidance_scale":1.0,"sampler":"euler_ancestral_cfg_pp","schedule":"karras"}
                """), got, "euler_ancestral_cfg_pp / karras at cfg 1");
        BufferedImage other = run(defaultGraph("tiny-sd15", 21, 4, 1.0, "euler_ancestral_cfg_pp", "karras", 64, 64, 1,
                "a lighthouse", "dark"));
        assertFalse(java.util.Arrays.equals(pixels(got), pixels(other)), "the negative prompt is used at cfg 1");
    }

    @Test
    void fluxGuidanceIsTheNativeGuidance() throws Exception {
        Fixtures.require(FLUX);
        ObjectNode g = defaultGraph("flux-dev.safetensors", 3, 2, 1, "euler", "simple", 128, 128, 1, "a red fox", "");
        ObjectNode f = ComfyWorkflows.node(g, "13", "FluxGuidance");
        f.set("conditioning", link("6", 0));
        f.put("guidance", 2.0);
        inputs(g, "3").set("positive", link("13", 0));
        ((ObjectNode) g.get("5")).put("class_type", "EmptySD3LatentImage");
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":2,"width":128,"height":128,
                 "guidance_scale":2.0,"sampler":"flow_euler"}"""), run(g), "FluxGuidance 2 at cfg 1");
        // FLUX's split-file workflow: UNETLoader, DualCLIPLoader and VAELoader naming the one model
        ObjectNode unet = ComfyWorkflows.node(g, "30", "UNETLoader");
        unet.put("unet_name", "flux-dev.safetensors");
        unet.put("weight_dtype", "default");
        ObjectNode clip = ComfyWorkflows.node(g, "31", "DualCLIPLoader");
        clip.put("clip_name1", "flux-dev.safetensors");
        clip.put("clip_name2", "flux-dev.safetensors");
        clip.put("type", "flux");
        ComfyWorkflows.node(g, "32", "VAELoader").put("vae_name", "flux-dev.safetensors");
        inputs(g, "3").set("model", link("30", 0));
        inputs(g, "6").set("clip", link("31", 0));
        inputs(g, "7").set("clip", link("31", 0));
        inputs(g, "8").set("vae", link("32", 0));
        g.remove("4");
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","seed":3,"steps":2,"width":128,"height":128,
                 "guidance_scale":2.0,"sampler":"flow_euler"}"""), run(g), "UNETLoader + DualCLIPLoader + VAELoader");
        inputs(g, "3").put("cfg", 2.5);
        assertSamePixels(nativeImage("""
                {"model":"flux-dev","prompt":"a red fox","negative_prompt":"","seed":3,"steps":2,"width":128,
                 "height":128,"guidance_scale":2.0,"sampler":"flow_euler","true_cfg_scale":2.5}"""), run(g),
                "cfg above 1 on FLUX is true CFG");
    }

    @Test
    void loraLoaderIsTheNativeLora() throws Exception {
        Fixtures.require(SD15);
        Fixtures.require(LORA);
        JsonNode listed = ts.get("/object_info/LoraLoader").json().at("/LoraLoader/input/required/lora_name/0");
        assertTrue(listed.toString().contains("\"detail_tweaker.safetensors\""), listed.toString());
        ObjectNode g = defaultGraph("tiny-sd15", 8, 4, 7.5, "euler", "normal", 64, 64, 1, "a castle", "");
        ObjectNode l = ComfyWorkflows.node(g, "20", "LoraLoader");
        l.set("model", link("4", 0));
        l.set("clip", link("4", 1));
        l.put("lora_name", "detail_tweaker.safetensors");
        l.put("strength_model", 0.7);
        l.put("strength_clip", 0.7);
        inputs(g, "3").set("model", link("20", 0));
        inputs(g, "6").set("clip", link("20", 1));
        inputs(g, "7").set("clip", link("20", 1));
        BufferedImage got = run(g);
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"a castle","negative_prompt":"","seed":8,"steps":4,"width":64,
                 "height":64,"guidance_scale":7.5,"sampler":"euler","schedule":"linspace",
                 "loras":[{"name":"detail_tweaker","scale":0.7}]}"""), got, "LoraLoader 0.7");
        l.put("strength_clip", 0.5);
        TestServer.Reply r = ts.post("/prompt", ComfyWorkflows.body(g, null));
        assertEquals(400, r.status());
        assertEquals("strength_clip", r.json().at("/node_errors/20/errors/0/extra_info/input_name").asText(),
                r.json().toString());
        l.put("strength_clip", 0.7);
        inputs(g, "7").set("clip", link("4", 1));
        r = ts.post("/prompt", ComfyWorkflows.body(g, null));
        assertEquals(400, r.status(), "the negative prompt's CLIP skips the LoRA the model has");
        assertEquals("clip", r.json().at("/node_errors/7/errors/0/extra_info/input_name").asText(),
                r.json().toString());
    }
}
