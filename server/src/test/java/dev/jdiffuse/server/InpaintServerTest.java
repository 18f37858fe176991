package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.server.images.PngText;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Inpainting, outpainting and the hires fix over real HTTP with the fixture models loaded by the production loader:
 * the 9-channel inpainting case reproduces diffusers' image through the API, the A1111 options change what they
 * should, the PNG parameters carry A1111's keys, and bad combinations are 400 naming the field.
 */
class InpaintServerTest {

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present("inpaint/sd15_9ch/model") || !Fixtures.present("layouts/sd15/model")) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-models");
        TestServer.linkFixture(models, "tiny-inpaint", "inpaint/sd15_9ch/model");
        TestServer.linkFixture(models, "tiny-sd15", "layouts/sd15/model");
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    private static String upload(BufferedImage image) throws Exception {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        ImageIO.write(image, "png", png);
        TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads"))
                .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(png.toByteArray())));
        assertEquals(201, up.status(), new String(up.raw().body()));
        return up.json().get("id").asText();
    }

    private static BufferedImage read(String caseFile) throws IOException {
        return ImageIO.read(Fixtures.root().resolve(caseFile).toFile());
    }

    /** Runs {@code body} to success; returns the PNG bytes of image 0 and the job record. */
    private static Object[] run(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return new Object[] {ts.get("/v1/generations/" + id + "/images/0").raw().body(), done};
    }

    private static BufferedImage image(Object[] run) throws IOException {
        return ImageIO.read(new ByteArrayInputStream((byte[]) run[0]));
    }

    @Test
    void inpaintingModelReproducesDiffusersThroughTheApi() throws Exception {
        Path c = Fixtures.require("inpaint/sd15_9ch");
        JsonNode meta = Fixtures.meta(c);
        String init = upload(read("inpaint/sd15_9ch/init.png"));
        String mask = upload(read("inpaint/sd15_9ch/mask.png"));
        Object[] run = run("""
                {"model":"tiny-inpaint","prompt":"%s","negative_prompt":"","width":128,"height":128,"steps":%d,
                 "guidance_scale":%s,"seed":%d,"init_image":"%s","mask":"%s"}""".formatted(
                meta.get("prompt").asText(), meta.get("num_inference_steps").asInt(),
                meta.get("guidance_scale").asText(), meta.get("seed").asLong(), init, mask));
        BufferedImage got = image(run);
        float[] ref;
        try (SafetensorsFile io = SafetensorsFile.open(c.resolve("io.safetensors"))) {
            ref = io.toFloatArray("image");
        }
        int plane = 128 * 128;
        int worst = 0;
        for (int i = 0; i < plane; i++) {
            int rgb = got.getRGB(i % 128, i / 128);
            for (int ch = 0; ch < 3; ch++) {
                int expected = Math.round(Math.max(0f, Math.min(1f, ref[ch * plane + i])) * 255f);
                worst = Math.max(worst, Math.abs(((rgb >> (16 - 8 * ch)) & 0xff) - expected));
            }
        }
        assertTrue(worst <= 1, "8-bit pixels within one level of diffusers' image (2e-3 of the [0, 1] range), got "
                + worst);
        JsonNode done = (JsonNode) run[1];
        assertEquals(1.0, done.at("/parameters/strength").asDouble(), "diffusers' inpainting default strength");
        assertEquals(mask, done.at("/parameters/mask").asText());
        String text = PngText.read((byte[]) run[0]).get("parameters");
        assertTrue(text.contains("Mask blur: 0") && text.contains("Denoising strength: 1"), text);
    }

    @Test
    void onlyMaskedWithBlurAndPasteBackKeepsTheInitImageOutsideTheMask() throws Exception {
        Fixtures.require("inpaint/sd15_4ch");
        BufferedImage initImage = read("inpaint/sd15_4ch/init.png");
        BufferedImage maskImage = read("inpaint/sd15_4ch/mask.png");
        Object[] run = run("""
                {"model":"tiny-sd15","prompt":"ramen","width":64,"height":64,"steps":4,"seed":5,
                 "init_image":"%s","mask":"%s","strength":0.75,"mask_blur":4,"inpaint_full_res":true,
                 "inpaint_full_res_padding":8}""".formatted(upload(initImage), upload(maskImage)));
        BufferedImage got = image(run);
        assertEquals(128, got.getWidth(), "only masked: the init image's size, not the request's 64");
        assertEquals(128, got.getHeight());
        // far from the mask (rows 0..15 are 16 pixels above it, beyond the blur's reach) the init image is kept
        assertKept(initImage, got, 0, 128, 16, 0);
        String text = PngText.read((byte[]) run[0]).get("parameters");
        assertTrue(text.contains("Mask blur: 4") && text.contains("Inpaint area: Only masked")
                && text.contains("Masked area padding: 8"), text);
    }

    @Test
    void outpaintingExtendsTheCanvas() throws Exception {
        Fixtures.require("inpaint/sd15_4ch");
        BufferedImage initImage = read("inpaint/sd15_4ch/init.png");
        Object[] run = run("""
                {"model":"tiny-inpaint","prompt":"a wide landscape","steps":3,"seed":6,"init_image":"%s",
                 "outpaint":{"left":32,"bottom":16},"paste_back":true}""".formatted(upload(initImage)));
        BufferedImage got = image(run);
        assertEquals(160, got.getWidth());
        assertEquals(144, got.getHeight());
        assertKept(initImage, got, 8, 128, 120, 32); // all but the 8-pixel overlap on the extended sides
        JsonNode done = (JsonNode) run[1];
        assertEquals(32, done.at("/parameters/outpaint/left").asInt());
        assertEquals(160, done.at("/parameters/width").asInt());
    }

    @Test
    void hiresFixUpscalesAndWritesA1111Parameters() throws Exception {
        Fixtures.require("layouts/sd15/model");
        Object[] run = run("""
                {"model":"tiny-sd15","prompt":"a lighthouse","width":64,"height":64,"steps":3,"seed":8,
                 "hires":{"scale":2,"steps":2,"strength":0.5}}""");
        BufferedImage got = image(run);
        assertEquals(128, got.getWidth());
        assertEquals(128, got.getHeight());
        JsonNode done = (JsonNode) run[1];
        assertEquals(5, done.get("total").asInt(), "3 base steps and 2 hires steps");
        assertEquals(128, done.at("/parameters/hires/width").asInt());
        String text = PngText.read((byte[]) run[0]).get("parameters");
        assertTrue(text.contains("Size: 64x64") && text.contains("Denoising strength: 0.5")
                && text.contains("Hires upscale: 2, Hires steps: 2, Hires upscaler: Latent"), text);
    }

    @Test
    void badCombinationsAre400NamingTheField() throws Exception {
        Fixtures.require("inpaint/sd15_4ch");
        BufferedImage initImage = read("inpaint/sd15_4ch/init.png");
        String init = upload(initImage);
        String mask = upload(read("inpaint/sd15_4ch/mask.png"));
        String small = upload(new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB));
        String base = "\"model\":\"tiny-sd15\",\"prompt\":\"x\",\"steps\":2,";
        assertField("mask", "{" + base + "\"mask\":\"" + mask + "\"}");
        assertField("mask", "{" + base + "\"init_image\":\"" + init + "\",\"mask\":\"" + small + "\"}");
        assertField("strength", "{" + base + "\"init_image\":\"" + init + "\",\"mask\":\"" + mask
                + "\",\"strength\":1.5}");
        assertField("mask_blur", "{" + base + "\"init_image\":\"" + init + "\",\"mask_blur\":4}");
        assertField("mask_blur", "{" + base + "\"init_image\":\"" + init + "\",\"mask\":\"" + mask
                + "\",\"mask_blur\":-1}");
        assertField("inpaint_full_res", "{" + base + "\"init_image\":\"" + init + "\",\"inpaint_full_res\":true}");
        assertField("outpaint", "{" + base + "\"outpaint\":{\"left\":64}}");
        assertField("outpaint", "{" + base + "\"init_image\":\"" + init + "\",\"outpaint\":{\"left\":12}}");
        assertField("outpaint.top", "{" + base + "\"init_image\":\"" + init + "\",\"outpaint\":{\"top\":-8}}");
        assertField("outpaint", "{" + base + "\"init_image\":\"" + init + "\",\"mask\":\"" + mask
                + "\",\"outpaint\":{\"left\":8}}");
        assertField("hires", "{" + base + "\"init_image\":\"" + init + "\",\"hires\":{\"scale\":2}}");
        assertField("hires.upscaler", "{" + base + "\"hires\":{\"upscaler\":\"esrgan\"}}");
        assertField("hires.strength", "{" + base + "\"hires\":{\"strength\":0}}");
        assertField("hires.scale", "{" + base + "\"hires\":{\"scale\":9}}");
        assertField("hires.height", "{" + base + "\"hires\":{\"width\":256}}");
    }

    /** {@code got} at (x + dx, y) equals {@code init} at (x, y) for x in [x0, x1), y in [0, rows). */
    private static void assertKept(BufferedImage init, BufferedImage got, int x0, int x1, int rows, int dx) {
        for (int y = 0; y < rows; y++) {
            for (int x = x0; x < x1; x++) {
                assertEquals(init.getRGB(x, y) & 0xffffff, got.getRGB(x + dx, y) & 0xffffff, x + "," + y);
            }
        }
    }

    private static void assertField(String field, String body) throws Exception {
        TestServer.Reply r = ts.post("/v1/generations", body);
        assertEquals(400, r.status(), body + " -> " + new String(r.raw().body()));
        assertEquals(field, r.json().at("/error/field").asText(), new String(r.raw().body()));
    }
}
