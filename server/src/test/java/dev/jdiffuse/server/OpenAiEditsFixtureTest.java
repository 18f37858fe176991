package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Base64;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * OpenAI's {@code POST /v1/images/edits} against the real {@code layouts/sd15} fixture loaded by the production
 * loader: without a mask each image equals, pixel for pixel, the native image-to-image job of the same model, seed
 * ({@code seed + i} for image i), sampler, steps, guidance and strength; with an OpenAI mask (alpha 0 = edit) each
 * equals the native inpainting job whose mask is white where OpenAI's is transparent (with paste-back), and away
 * from the mask the init image's pixels are kept while the masked region is repainted.
 */
class OpenAiEditsFixtureTest {

    private static final String SD15 = "layouts/sd15/model";
    private static final String INPAINT = "inpaint/sd15_4ch";

    static TestServer ts;

    @BeforeAll
    static void start() throws Exception {
        if (!Fixtures.present(SD15)) {
            return;
        }
        Path models = Files.createTempDirectory("jdiffuse-openai-edit-models");
        TestServer.linkFixture(models, "tiny-sd15", SD15);
        ts = TestServer.overModels(models);
    }

    @AfterAll
    static void stop() {
        if (ts != null) {
            ts.close();
        }
    }

    private static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }

    private static void assertSamePixels(BufferedImage expected, BufferedImage got, String what) {
        assertEquals(expected.getWidth(), got.getWidth(), what);
        assertEquals(expected.getHeight(), got.getHeight(), what);
        assertArrayEquals(pixels(expected), pixels(got), what);
    }

    private static String upload(BufferedImage image) throws Exception {
        TestServer.Reply up = ts.send(HttpRequest.newBuilder(URI.create(ts.base + "/v1/uploads"))
                .header("Content-Type", "image/png").POST(HttpRequest.BodyPublishers.ofByteArray(
                        MultipartBody.png(image))));
        assertEquals(201, up.status(), new String(up.raw().body()));
        return up.json().get("id").asText();
    }

    /** The native API's image 0 for {@code body}. */
    private static BufferedImage nativeImage(String body) throws Exception {
        String id = ts.submit(body);
        JsonNode done = ts.await(id, Duration.ofSeconds(120));
        assertEquals("succeeded", done.get("status").asText(), done.toString());
        return ImageIO.read(new ByteArrayInputStream(ts.get("/v1/generations/" + id + "/images/0").raw().body()));
    }

    private static BufferedImage[] edit(MultipartBody body, int n) throws Exception {
        TestServer.Reply r = ts.send(body.post(ts.base + "/v1/images/edits").timeout(Duration.ofSeconds(120)));
        assertEquals(200, r.status(), () -> new String(r.raw().body()));
        assertEquals(n, r.json().get("data").size());
        BufferedImage[] out = new BufferedImage[n];
        for (int i = 0; i < n; i++) {
            out[i] = ImageIO.read(new ByteArrayInputStream(Base64.getDecoder().decode(
                    r.json().at("/data/" + i + "/b64_json").asText())));
        }
        return out;
    }

    @Test
    void withoutAMaskTheImagesEqualTheNativeImageToImageOfEachSeed() throws Exception {
        Fixtures.require(SD15);
        Fixtures.require(INPAINT);
        BufferedImage init = ImageIO.read(Fixtures.root().resolve(INPAINT + "/init.png").toFile());
        BufferedImage[] got = edit(new MultipartBody().png("image", init).field("prompt", "ramen")
                .field("model", "tiny-sd15").field("n", "2").field("size", "64x64").field("seed", "5")
                .field("steps", "4").field("guidance_scale", "7.5").field("sampler", "euler")
                .field("strength", "0.6").field("negative_prompt", "blurry"), 2);
        String initId = upload(init);
        for (int i = 0; i < 2; i++) {
            assertSamePixels(nativeImage("""
                    {"model":"tiny-sd15","prompt":"ramen","negative_prompt":"blurry","seed":%d,"steps":4,
                     "width":64,"height":64,"guidance_scale":7.5,"sampler":"euler","init_image":"%s",
                     "strength":0.6}""".formatted(5 + i, initId)), got[i], "image " + i + " = native seed " + (5 + i));
        }
        assertFalse(Arrays.equals(pixels(got[0]), pixels(got[1])), "the two seeds give two images");
    }

    @Test
    void aMasksTransparentRegionIsRepaintedAndTheRestKept() throws Exception {
        Fixtures.require(SD15);
        Fixtures.require(INPAINT);
        BufferedImage init = ImageIO.read(Fixtures.root().resolve(INPAINT + "/init.png").toFile());
        int w = init.getWidth();
        int h = init.getHeight();
        // OpenAI's mask: rows 64..111, columns 32..95 fully transparent; the native mask: white there
        BufferedImage openAi = OpenAiEditsServerTest.openAiMask(w, h, 32, 64, 96, 112);
        BufferedImage white = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        for (int y = 64; y < 112; y++) {
            for (int x = 32; x < 96; x++) {
                white.setRGB(x, y, 0xFFFFFF);
            }
        }
        // no size: "auto", the init image's size (a multiple of 8 already)
        BufferedImage got = edit(new MultipartBody().png("image", init).png("mask", openAi)
                .field("prompt", "a bowl of ramen").field("seed", "11").field("steps", "4")
                .field("sampler", "euler").field("guidance_scale", "7.5"), 1)[0];
        assertEquals(w, got.getWidth());
        assertEquals(h, got.getHeight());
        assertSamePixels(nativeImage("""
                {"model":"tiny-sd15","prompt":"a bowl of ramen","seed":11,"steps":4,"width":%d,"height":%d,
                 "guidance_scale":7.5,"sampler":"euler","init_image":"%s","mask":"%s","paste_back":true}"""
                .formatted(w, h, upload(init), upload(white))), got, "the native inpainting of the white mask");
        // away from the mask (rows 0..47: 16 rows and more above it) the init image is kept exactly ...
        assertArrayEquals(init.getRGB(0, 0, w, 48, null, 0, w), got.getRGB(0, 0, w, 48, null, 0, w),
                "the opaque region is kept");
        // ... and inside it the model repainted: far from the init image's pixels
        double diff = 0;
        for (int y = 72; y < 104; y++) {
            for (int x = 40; x < 88; x++) {
                int a = init.getRGB(x, y);
                int b = got.getRGB(x, y);
                for (int s = 0; s < 24; s += 8) {
                    diff += Math.abs((a >> s & 0xff) - (b >> s & 0xff));
                }
            }
        }
        double mean = diff / (32 * 48 * 3);
        assertTrue(mean > 10, "the transparent region is repainted (mean 8-bit difference " + mean + ")");
    }
}
